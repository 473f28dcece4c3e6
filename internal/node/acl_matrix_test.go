package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// The ACL matrix against a real node, its ACLs made with kadm: each row is
// a client's request that must succeed with the row's ACLs and answer the
// row's denial without each of them. Every connection is User:ANONYMOUS
// until SASL lands, so the ACLs are ANONYMOUS's; wildcard ACLs of another
// principal on every topic, group and transactional id keep
// allow.everyone.if.no.acl.found from allowing what a row's ACLs do not
// (Kafka applies it only to resources no ACL matches). The per-API detail
// is internal/broker's TestACLMatrix; this checks the pieces meet: ACLs
// made over the wire reach the handlers' checks, and come off again.

const anonymous = "User:ANONYMOUS"

// matrixACL is one ACL of ANONYMOUS, made and deleted with kadm.
type matrixACL struct {
	typ  kmsg.ACLResourceType
	name string
	op   kadm.ACLOperation
}

func (a matrixACL) builder() *kadm.ACLBuilder {
	b := kadm.NewACLs().Allow(anonymous).AllowHosts().ResourcePatternType(kadm.ACLPatternLiteral).Operations(a.op)
	switch a.typ {
	case kmsg.ACLResourceTypeTopic:
		return b.Topics(a.name)
	case kmsg.ACLResourceTypeGroup:
		return b.Groups(a.name)
	case kmsg.ACLResourceTypeTransactionalId:
		return b.TransactionalIDs(a.name)
	}
	return b.Clusters()
}

func onTopic(op kadm.ACLOperation, name string) matrixACL {
	return matrixACL{kmsg.ACLResourceTypeTopic, name, op}
}
func onGroup(op kadm.ACLOperation) matrixACL { return matrixACL{kmsg.ACLResourceTypeGroup, "mg", op} }
func onTxn(op kadm.ACLOperation) matrixACL {
	return matrixACL{kmsg.ACLResourceTypeTransactionalId, "mtx", op}
}
func onCluster(op kadm.ACLOperation) matrixACL {
	return matrixACL{kmsg.ACLResourceTypeCluster, "kafka-cluster", op}
}

type matrixRow struct {
	name string
	need []matrixACL
	deny []int16 // per ACL of need
	// do sends the request and returns the code the row looks at.
	do func(ctx context.Context, cl *kgo.Client) (int16, error)
}

func TestACLMatrixNode(t *testing.T) {
	tn := startNode(t, "", aclSettings)
	cl := newClient(t, tn.KafkaAddr())
	adm := kadm.NewClient(cl)
	createTopic(t, adm, "mt", 1, nil)
	topics, err := adm.ListTopics(testContext(t), "mt")
	if err != nil {
		t.Fatal(err)
	}
	createACLs(t, adm,
		kadm.NewACLs().Allow("User:nobody").Topics("*").Groups("*").TransactionalIDs("*").Operations(kadm.OpAll),
		// Making and deleting ACLs needs ALTER on the cluster, which
		// then has ACLs: no row may need it denied.
		kadm.NewACLs().Allow(anonymous).Clusters().Operations(kadm.OpAlter),
	)
	for _, row := range matrixRows(topics["mt"].ID, tn.KafkaAddr()) {
		t.Run(row.name, func(t *testing.T) {
			if len(row.deny) != len(row.need) {
				t.Fatalf("row lists %d ACLs and %d denials", len(row.need), len(row.deny))
			}
			for _, a := range row.need {
				createACLs(t, adm, a.builder())
			}
			t.Cleanup(func() { // whatever happened, the next row starts without them
				for _, a := range row.need {
					adm.DeleteACLs(context.Background(), a.builder())
				}
			})
			expectCode(t, cl, row, 0, "all of its ACLs")
			for i, a := range row.need {
				deleteACL(t, adm, a)
				expectCode(t, cl, row, row.deny[i], fmt.Sprintf("without %v", a))
				createACLs(t, adm, a.builder())
			}
		})
	}
}

// expectCode polls the row's request until it answers want: an ACL change
// reaches the authorizer once the metadata quorum applied it.
func expectCode(t *testing.T, cl *kgo.Client, row matrixRow, want int16, with string) {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := row.do(ctx, cl)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: code %v (err %v), want %v", with, kerr.ErrorForCode(got), err, kerr.ErrorForCode(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deleteACL(t *testing.T, adm *kadm.Client, a matrixACL) {
	t.Helper()
	res, err := adm.DeleteACLs(testContext(t), a.builder())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("deleting %v: %v", a, r.Err)
		}
		n += len(r.Deleted)
	}
	if n != 1 {
		t.Fatalf("deleting %v removed %d ACLs", a, n)
	}
}

// raw sends req on cl and returns the answer.
func raw[R kmsg.Response](ctx context.Context, cl *kgo.Client, req kmsg.Request) (R, error) {
	var zero R
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return zero, err
	}
	r, ok := resp.(R)
	if !ok {
		return zero, errors.New("unexpected response type")
	}
	return r, nil
}

func matrixRows(topicID [16]byte, addr string) []matrixRow {
	const (
		topicDenied   = 29 // TOPIC_AUTHORIZATION_FAILED
		groupDenied   = 30
		clusterDenied = 31
		txnDenied     = 53
	)
	return []matrixRow{
		{name: "Metadata", need: []matrixACL{onTopic(kadm.OpDescribe, "mt")}, deny: []int16{topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrMetadataRequest()
				req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("mt")}}
				resp, err := raw[*kmsg.MetadataResponse](ctx, cl, req)
				if err != nil || len(resp.Topics) != 1 {
					return -1, err
				}
				return resp.Topics[0].ErrorCode, nil
			}},
		{name: "Produce", need: []matrixACL{onTopic(kadm.OpWrite, "mt")}, deny: []int16{topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrProduceRequest()
				req.Acks, req.TimeoutMillis = -1, 5000
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Records = record.Build(time.Now().UnixMilli(), []record.Record{{Value: []byte("v")}})
				req.Topics = []kmsg.ProduceRequestTopic{{Topic: "mt", TopicID: topicID, Partitions: []kmsg.ProduceRequestTopicPartition{rp}}}
				resp, err := raw[*kmsg.ProduceResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.Topics[0].Partitions[0].ErrorCode, nil
			}},
		{name: "Fetch", need: []matrixACL{onTopic(kadm.OpRead, "mt")}, deny: []int16{topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrFetchRequest()
				req.MaxBytes, req.ReplicaID = 1<<20, -1
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.PartitionMaxBytes = 1 << 20
				req.Topics = []kmsg.FetchRequestTopic{{Topic: "mt", TopicID: topicID, Partitions: []kmsg.FetchRequestTopicPartition{rp}}}
				resp, err := raw[*kmsg.FetchResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.Topics[0].Partitions[0].ErrorCode, nil
			}},
		{name: "CreateTopics", need: []matrixACL{onTopic(kadm.OpCreate, "mnew")}, deny: []int16{topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrCreateTopicsRequest()
				req.ValidateOnly, req.TimeoutMillis = true, 5000
				req.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "mnew", NumPartitions: 1, ReplicationFactor: 1}}
				resp, err := raw[*kmsg.CreateTopicsResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.Topics[0].ErrorCode, nil
			}},
		{name: "DescribeConfigs", need: []matrixACL{onTopic(kadm.OpDescribeConfigs, "mt")}, deny: []int16{topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrDescribeConfigsRequest()
				req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "mt"}}
				resp, err := raw[*kmsg.DescribeConfigsResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.Resources[0].ErrorCode, nil
			}},
		// Not DESCRIBE on the cluster: the ALTER ANONYMOUS keeps implies it.
		{name: "DescribeConfigs/broker", need: []matrixACL{onCluster(kadm.OpDescribeConfigs)}, deny: []int16{clusterDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				req := kmsg.NewPtrDescribeConfigsRequest()
				req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
				resp, err := raw[*kmsg.DescribeConfigsResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.Resources[0].ErrorCode, nil
			}},
		// READ implies DESCRIBE (FindCoordinator's), as WRITE does below.
		{name: "OffsetCommit", need: []matrixACL{onGroup(kadm.OpRead), onTopic(kadm.OpRead, "mt")},
			deny: []int16{groupDenied, topicDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				offsets := kadm.Offsets{}
				offsets.AddOffset("mt", 0, 0, -1)
				resp, err := kadm.NewClient(cl).CommitOffsets(ctx, "mg", offsets)
				if err != nil {
					return kerrCode(err), nil // FindCoordinator's denial
				}
				r, _ := resp.Lookup("mt", 0)
				return kerrCode(r.Err), nil
			}},
		{name: "InitProducerId/transactional", need: []matrixACL{onTxn(kadm.OpWrite)}, deny: []int16{txnDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				find := kmsg.NewPtrFindCoordinatorRequest()
				find.CoordinatorType, find.CoordinatorKeys = 1, []string{"mtx"}
				fresp, err := raw[*kmsg.FindCoordinatorResponse](ctx, cl, find)
				if err != nil {
					return -1, err
				}
				if c := fresp.Coordinators[0].ErrorCode; c != 0 {
					return c, nil
				}
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("mtx"), 60000
				resp, err := raw[*kmsg.InitProducerIDResponse](ctx, cl, req)
				if err != nil {
					return -1, err
				}
				return resp.ErrorCode, nil
			}},
		// A real transactional producer: its InitProducerId needs WRITE on
		// its id, its AddPartitionsToTxn and Produce WRITE on the topic.
		{name: "kgo transaction", need: []matrixACL{onTxn(kadm.OpWrite), onTopic(kadm.OpWrite, "mt")},
			deny: []int16{txnDenied, topicDenied},
			do: func(ctx context.Context, _ *kgo.Client) (int16, error) {
				return transactOnce(ctx, addr)
			}},
		{name: "InitProducerId/idempotent", need: []matrixACL{onCluster(kadm.OpIdempotentWrite)}, deny: []int16{clusterDenied},
			do: func(ctx context.Context, cl *kgo.Client) (int16, error) {
				resp, err := raw[*kmsg.InitProducerIDResponse](ctx, cl, kmsg.NewPtrInitProducerIDRequest())
				if err != nil {
					return -1, err
				}
				return resp.ErrorCode, nil
			}},
	}
}

// kerrCode is the Kafka error code err carries, 0 for nil, -1 for an error
// that is not a Kafka error.
func kerrCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	// kgo reports a failed producer id load in words, not wrapped.
	for _, ke := range []*kerr.Error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed} {
		if strings.Contains(err.Error(), ke.Message) {
			return ke.Code
		}
	}
	return -1
}

// transactOnce produces one record to mt in a transaction of mtx with a
// new kgo client and commits it, returning the first error's code.
func transactOnce(ctx context.Context, addr string) (int16, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("mtx"), kgo.DefaultProduceTopic("mt"),
		kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return kerrCode(err), nil
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		cl.EndTransaction(ctx, kgo.TryAbort)
		return kerrCode(err), nil
	}
	return kerrCode(cl.EndTransaction(ctx, kgo.TryCommit)), nil
}
