package node_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Without an authorizer Kafka reports every operation a resource type
// supports (AclEntry.supportedOperations).
var (
	topicOps = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
	clusterOps = []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
		kmsg.ACLOperationIdempotentWrite}
	groupOps = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDelete, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
)

func checkOps(t *testing.T, what string, bits int32, want []kmsg.ACLOperation) {
	t.Helper()
	got := kadm.DecodeACLOperations(bits)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: authorized operations %v (%#x), want %v", what, got, bits, want)
	}
}

// TestAuthorizedOperations asks Metadata, DescribeCluster, DescribeGroups
// and ConsumerGroupDescribe for authorized operations, and checks they are
// INT32_MIN when not asked for.
func TestAuthorizedOperations(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	cl := newClient(t, tn.KafkaAddr())
	createTopic(t, kadm.NewClient(cl), "authz", 1, nil)
	ctx := testContext(t)

	for _, v := range []int16{8, 10, 12} {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(kmsg.Metadata.Int16(), v) // kgo sends the newest version both sides allow
		mcl := newClient(t, tn.KafkaAddr(), kgo.MaxVersions(vs))
		for _, asked := range []bool{false, true} {
			req := kmsg.NewPtrMetadataRequest()
			req.Version, req.IncludeTopicAuthorizedOperations, req.IncludeClusterAuthorizedOperations = v, asked, asked
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("authz")
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, mcl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != v {
				t.Fatalf("metadata answered v%d, want v%d", resp.Version, v)
			}
			if !asked {
				if resp.Topics[0].AuthorizedOperations != math.MinInt32 || resp.AuthorizedOperations != math.MinInt32 {
					t.Errorf("metadata v%d not asked: topic %d cluster %d, want INT32_MIN", v, resp.Topics[0].AuthorizedOperations, resp.AuthorizedOperations)
				}
				continue
			}
			checkOps(t, "metadata topic", resp.Topics[0].AuthorizedOperations, topicOps)
			if v <= 10 {
				checkOps(t, "metadata cluster", resp.AuthorizedOperations, clusterOps)
			}
		}
	}

	for _, asked := range []bool{false, true} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = asked
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if !asked && resp.ClusterAuthorizedOperations != math.MinInt32 {
			t.Errorf("describe cluster not asked: %d", resp.ClusterAuthorizedOperations)
		} else if asked {
			checkOps(t, "describe cluster", resp.ClusterAuthorizedOperations, clusterOps)
		}
	}

	classic := startMember(t, tn.KafkaAddr(), "authz-classic", "authz", "c")
	next := startMember(t, tn.KafkaAddr(), "authz-848", "authz", "n", kgo.ServerSideBalancer())
	waitSplit(t, 1, []int{1}, classic)
	waitSplit(t, 1, []int{1}, next)
	for _, asked := range []bool{false, true} {
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups, dg.IncludeAuthorizedOperations = []string{"authz-classic"}, asked
		resp, err := dg.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		cg := kmsg.NewPtrConsumerGroupDescribeRequest()
		cg.Groups, cg.IncludeAuthorizedOperations = []string{"authz-848"}, asked
		cresp, err := cg.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		g, c := resp.Groups[0], cresp.Groups[0]
		if g.ErrorCode != 0 || c.ErrorCode != 0 {
			t.Fatalf("describe groups: errors %d, %d", g.ErrorCode, c.ErrorCode)
		}
		if !asked && (g.AuthorizedOperations != math.MinInt32 || c.AuthorizedOperations != math.MinInt32) {
			t.Errorf("groups not asked: %d, %d", g.AuthorizedOperations, c.AuthorizedOperations)
		} else if asked {
			checkOps(t, "describe groups", g.AuthorizedOperations, groupOps)
			checkOps(t, "consumer group describe", c.AuthorizedOperations, groupOps)
		}
	}
}
