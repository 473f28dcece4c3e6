package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

const standardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// aclSettings turn the authorizer on. Every connection is User:ANONYMOUS
// until SASL lands, so ANONYMOUS may use a resource no ACL covers.
var aclSettings = map[string]string{"authorizer.class.name": standardAuthorizer, "allow.everyone.if.no.acl.found": "true"}

// aclString renders a binding the way the tests compare them.
func aclString(typ kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) string {
	return fmt.Sprintf("%s:%s:%s %s@%s %s %s", typ, pt, name, principal, host, op, perm)
}

func describedStrings(t *testing.T, res kadm.DescribeACLsResults) []string {
	t.Helper()
	var out []string
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("describe: %v (%s)", r.Err, r.ErrMessage)
		}
		for _, d := range r.Described {
			out = append(out, aclString(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission))
		}
	}
	slices.Sort(out)
	return out
}

// describeAll lists every ACL with kadm.
func describeAll(t *testing.T, adm *kadm.Client) []string {
	t.Helper()
	res, err := adm.DescribeACLs(testContext(t), kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().
		ResourcePatternType(kadm.ACLPatternAny).Operations())
	if err != nil {
		t.Fatal(err)
	}
	return describedStrings(t, res)
}

func createACLs(t *testing.T, adm *kadm.Client, builders ...*kadm.ACLBuilder) {
	t.Helper()
	for _, b := range builders {
		res, err := adm.CreateACLs(testContext(t), b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("creating %+v: %v (%s)", r, r.Err, r.ErrMessage)
			}
		}
	}
}

const (
	topicT    = kmsg.ACLResourceTypeTopic
	literal   = kmsg.ACLResourcePatternTypeLiteral
	prefixedP = kmsg.ACLResourcePatternTypePrefixed
	allowP    = kmsg.ACLPermissionTypeAllow
	denyP     = kmsg.ACLPermissionTypeDeny
)

// TestACLAdmin creates, describes and deletes ACLs with kadm and raw
// requests against one node with the authorizer on.
func TestACLAdmin(t *testing.T) {
	tn := startNode(t, "", aclSettings)
	cl := newClient(t, tn.KafkaAddr())
	adm := kadm.NewClient(cl)
	ctx := testContext(t)

	createACLs(t, adm,
		kadm.NewACLs().Allow("User:alice").Topics("payments").Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Allow("User:alice").Topics("pay").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpDescribe),
		kadm.NewACLs().Deny("User:mallory").DenyHosts("10.0.0.9").Topics("*").Operations(kadm.OpAll),
		kadm.NewACLs().Allow("User:bob").Groups("g").Operations(kadm.OpRead),
		// The cluster now has ACLs: ANONYMOUS needs its own to go on.
		kadm.NewACLs().Allow("User:ops", "User:ANONYMOUS").Clusters().Operations(kadm.OpAlter, kadm.OpDescribe),
	)
	// Again: already there, answered with success, not stored twice.
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").Topics("payments").Operations(kadm.OpRead))

	var (
		mallory      = aclString(topicT, "*", literal, "User:mallory", "10.0.0.9", kmsg.ACLOperationAll, denyP)
		payPrefix    = aclString(topicT, "pay", prefixedP, "User:alice", "*", kmsg.ACLOperationDescribe, allowP)
		payRead      = aclString(topicT, "payments", literal, "User:alice", "*", kmsg.ACLOperationRead, allowP)
		payWrite     = aclString(topicT, "payments", literal, "User:alice", "*", kmsg.ACLOperationWrite, allowP)
		bobGroup     = aclString(kmsg.ACLResourceTypeGroup, "g", literal, "User:bob", "*", kmsg.ACLOperationRead, allowP)
		anonAlter    = aclString(kmsg.ACLResourceTypeCluster, "kafka-cluster", literal, "User:ANONYMOUS", "*", kmsg.ACLOperationAlter, allowP)
		anonDescribe = aclString(kmsg.ACLResourceTypeCluster, "kafka-cluster", literal, "User:ANONYMOUS", "*", kmsg.ACLOperationDescribe, allowP)
		opsAlter     = aclString(kmsg.ACLResourceTypeCluster, "kafka-cluster", literal, "User:ops", "*", kmsg.ACLOperationAlter, allowP)
		opsDescribe  = aclString(kmsg.ACLResourceTypeCluster, "kafka-cluster", literal, "User:ops", "*", kmsg.ACLOperationDescribe, allowP)
	)
	sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }
	all := sorted(mallory, payPrefix, payRead, payWrite, bobGroup, anonAlter, anonDescribe, opsAlter, opsDescribe)
	rest := sorted(bobGroup, anonAlter, anonDescribe, opsAlter, opsDescribe) // after the deletes
	if got := describeAll(t, adm); !slices.Equal(got, all) {
		t.Fatalf("described\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}

	// Filters: MATCH names what applies to a resource, PREFIXED only
	// prefixed bindings, a principal only its own.
	for _, tc := range []struct {
		name string
		req  *kmsg.DescribeACLsRequest
		want []string
	}{
		{"match payments", describeFilter(topicT, kmsg.StringPtr("payments"), kmsg.ACLResourcePatternTypeMatch, nil), sorted(mallory, payPrefix, payRead, payWrite)},
		{"any pattern named pay", describeFilter(topicT, kmsg.StringPtr("pay"), kmsg.ACLResourcePatternTypeAny, nil), []string{payPrefix}},
		{"literal named pay", describeFilter(topicT, kmsg.StringPtr("pay"), literal, nil), nil},
		{"prefixed topics", describeFilter(topicT, nil, prefixedP, nil), []string{payPrefix}},
		{"bob's", describeFilter(kmsg.ACLResourceTypeAny, nil, kmsg.ACLResourcePatternTypeAny, kmsg.StringPtr("User:bob")), []string{bobGroup}},
	} {
		resp, err := tc.req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("%s: %v, code %d", tc.name, err, resp.ErrorCode)
		}
		if got := describedResponse(resp); !slices.Equal(got, tc.want) {
			t.Errorf("%s: described\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}

	// v0 has no pattern types: only LITERAL bindings are described.
	v0 := kversion.Stable()
	v0.SetMaxKeyVersion(kmsg.DescribeACLs.Int16(), 0)
	resp, err := describeFilter(topicT, nil, kmsg.ACLResourcePatternTypeAny, nil).RequestWith(ctx, newClient(t, tn.KafkaAddr(), kgo.MaxVersions(v0)))
	if err != nil || resp.ErrorCode != 0 || resp.Version != 0 {
		t.Fatalf("v0: %v, code %d, version %d", err, resp.ErrorCode, resp.Version)
	}
	if got := describedResponse(resp); !slices.Equal(got, sorted(mallory, payRead, payWrite)) {
		t.Errorf("v0 described %v", got)
	}

	// Delete: a prefixed filter, then a MATCH filter beside one that
	// matches part of the same bindings.
	dels, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("pay").ResourcePatternType(kadm.ACLPatternPrefixed).Allow().AllowHosts().Operations())
	if err != nil || len(dels) != 1 || dels[0].Err != nil || len(dels[0].Deleted) != 1 || dels[0].Deleted[0].Name != "pay" {
		t.Fatalf("delete prefixed: %v %+v", err, dels)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{
		deleteFilter(topicT, kmsg.StringPtr("payments"), kmsg.ACLResourcePatternTypeMatch),
		deleteFilter(topicT, kmsg.StringPtr("payments"), literal),
		{ResourceType: kmsg.ACLResourceTypeUnknown, ResourcePatternType: literal, Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny},
	}
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if r := dresp.Results; len(r) != 3 || r[0].ErrorCode != 0 || len(r[0].MatchingACLs) != 3 || r[1].ErrorCode != 0 ||
		len(r[1].MatchingACLs) != 2 || r[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("delete with MATCH: %+v", dresp.Results)
	}
	if got := describeAll(t, adm); !slices.Equal(got, rest) {
		t.Fatalf("after deletes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(rest, "\n"))
	}

	// Invalid bindings fail one by one; the valid one beside them is made.
	create := kmsg.NewPtrCreateACLsRequest()
	valid := creation(topicT, "ok", literal, "User:alice", kmsg.ACLOperationRead)
	create.Creations = []kmsg.CreateACLsRequestCreation{
		creation(topicT, "", literal, "User:alice", kmsg.ACLOperationRead),
		creation(topicT, "t", literal, "User:alice", kmsg.ACLOperationAny),
		creation(topicT, "t", kmsg.ACLResourcePatternTypeMatch, "User:alice", kmsg.ACLOperationRead),
		creation(kmsg.ACLResourceTypeAny, "t", literal, "User:alice", kmsg.ACLOperationRead),
		creation(topicT, "t", literal, "alice", kmsg.ACLOperationRead),
		creation(kmsg.ACLResourceTypeCluster, "my-cluster", literal, "User:alice", kmsg.ACLOperationAlter),
		valid,
	}
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil || len(cresp.Results) != len(create.Creations) {
		t.Fatalf("create: %v %+v", err, cresp)
	}
	for i, r := range cresp.Results[:len(cresp.Results)-1] {
		if r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil || *r.ErrorMessage == "" {
			t.Errorf("creation %d: code %d message %v, want INVALID_REQUEST with a reason", i, r.ErrorCode, r.ErrorMessage)
		}
	}
	if r := cresp.Results[len(cresp.Results)-1]; r.ErrorCode != 0 {
		t.Errorf("the valid creation: code %d", r.ErrorCode)
	}
	if got := describeAll(t, adm); len(got) != len(rest)+1 {
		t.Errorf("after invalid creations: %v", got)
	}
	bad := describeFilter(kmsg.ACLResourceTypeUnknown, nil, literal, nil)
	if resp, err := bad.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("describe with an unknown resource type: %v %+v", err, resp)
	}

	// Enforcement: deny ANONYMOUS ALTER on the cluster. Creating and
	// deleting are refused; describing still works (the ALLOW of DESCRIBE
	// stands, and a DENY of ALTER denies nothing else).
	createACLs(t, adm, kadm.NewACLs().Deny("User:ANONYMOUS").Clusters().Operations(kadm.OpAlter))
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:x").Topics("x").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("create after the deny: %v %+v", err, res)
	}
	dels, err = adm.DeleteACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().ResourcePatternType(kadm.ACLPatternAny).Operations())
	if err != nil || len(dels) != 1 || !errors.Is(dels[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("delete after the deny: %v %+v", err, dels)
	}
	if got := describeAll(t, adm); len(got) != len(rest)+2 {
		t.Errorf("describe after the deny: %v", got)
	}
}

func describeFilter(typ kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal *string) *kmsg.DescribeACLsRequest {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal = typ, name, pt, principal
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return req
}

func deleteFilter(typ kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType) kmsg.DeleteACLsRequestFilter {
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourceName, f.ResourcePatternType = typ, name, pt
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return f
}

func creation(typ kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType, c.Principal, c.Host = typ, name, pt, principal, "*"
	c.Operation, c.PermissionType = op, kmsg.ACLPermissionTypeAllow
	return c
}

func describedResponse(resp *kmsg.DescribeACLsResponse) []string {
	var out []string
	for _, r := range resp.Resources {
		pt := r.ResourcePatternType
		if resp.Version == 0 {
			pt = literal
		}
		for _, a := range r.ACLs {
			out = append(out, aclString(r.ResourceType, r.ResourceName, pt, a.Principal, a.Host, a.Operation, a.PermissionType))
		}
	}
	slices.Sort(out)
	return out
}

// TestACLsSecurityDisabled: without authorizer.class.name the ACL APIs
// answer SECURITY_DISABLED, as Kafka's.
func TestACLsSecurityDisabled(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	ctx := testContext(t)
	cres, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("t").Operations(kadm.OpRead, kadm.OpWrite))
	if err != nil || len(cres) != 2 {
		t.Fatalf("create: %v %+v", err, cres)
	}
	for _, r := range cres {
		if !errors.Is(r.Err, kerr.SecurityDisabled) {
			t.Errorf("create: %v, want SECURITY_DISABLED", r.Err)
		}
	}
	dres, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().ResourcePatternType(kadm.ACLPatternAny).Operations())
	if err != nil || len(dres) != 1 || !errors.Is(dres[0].Err, kerr.SecurityDisabled) {
		t.Errorf("describe: %v %+v, want SECURITY_DISABLED", err, dres)
	}
	xres, err := adm.DeleteACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().ResourcePatternType(kadm.ACLPatternAny).Operations())
	if err != nil || len(xres) != 1 || !errors.Is(xres[0].Err, kerr.SecurityDisabled) {
		t.Errorf("delete: %v %+v, want SECURITY_DISABLED", err, xres)
	}
}

// TestACLsSurviveRestart restarts a node on its data directory: the ACLs
// are in its metadata state file.
func TestACLsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, aclSettings)
	createACLs(t, newAdmin(t, tn.KafkaAddr()),
		kadm.NewACLs().Allow("User:alice").Topics("orders").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead),
		kadm.NewACLs().Deny("User:bob").DenyHosts("10.1.1.1").TransactionalIDs("tx").Operations(kadm.OpWrite))
	before := describeAll(t, newAdmin(t, tn.KafkaAddr()))
	if len(before) != 2 {
		t.Fatalf("described %v", before)
	}
	tn.stop(t)
	tn = startNode(t, dir, aclSettings)
	if after := describeAll(t, newAdmin(t, tn.KafkaAddr())); !slices.Equal(after, before) {
		t.Errorf("after a restart\n%v\nwant\n%v", after, before)
	}
}

// TestClusterACLs creates ACLs through one node of a three-node process
// cluster and checks that the others describe and enforce them, also
// after a restart, and that a delete through a third applies everywhere.
func TestClusterACLs(t *testing.T) {
	c := newProcCluster(t, 3, "authorizer.class.name="+standardAuthorizer, "allow.everyone.if.no.acl.found=true")
	cl := c.client()
	adm := kadm.NewClient(cl)
	createTopicRF(t, adm, "secret", 1, 3, nil)
	createTopicRF(t, adm, "open", 1, 3, nil)
	ctx := testContext(t)
	if _, err := adm.Metadata(ctx); err != nil { // so that cl knows every broker
		t.Fatal(err)
	}
	on := func(node int32, req kmsg.Request) (kmsg.Response, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return cl.Broker(int(node)).Request(rctx, req)
	}

	create := kmsg.NewPtrCreateACLsRequest()
	deny := creation(topicT, "secret", literal, "User:ANONYMOUS", kmsg.ACLOperationDescribe)
	deny.PermissionType = denyP
	create.Creations = []kmsg.CreateACLsRequestCreation{deny, creation(topicT, "sec", prefixedP, "User:alice", kmsg.ACLOperationRead)}
	resp, err := on(1, create)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.(*kmsg.CreateACLsResponse).Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create through node 1: code %d", r.ErrorCode)
		}
	}
	want := []string{
		aclString(topicT, "secret", literal, "User:ANONYMOUS", "*", kmsg.ACLOperationDescribe, denyP),
		aclString(topicT, "sec", prefixedP, "User:alice", "*", kmsg.ACLOperationRead, allowP),
	}
	slices.Sort(want)
	describedOn := func(node int32) []string {
		resp, err := on(node, describeFilter(kmsg.ACLResourceTypeAny, nil, kmsg.ACLResourcePatternTypeAny, nil))
		if err != nil || resp.(*kmsg.DescribeACLsResponse).ErrorCode != 0 {
			t.Logf("describe on node %d: %v %+v", node, err, resp)
			return nil
		}
		return describedResponse(resp.(*kmsg.DescribeACLsResponse))
	}
	waitFor(t, "node 2 to describe the ACLs created through node 1", func() bool { return slices.Equal(describedOn(2), want) })
	waitFor(t, "node 3 to hide secret from ANONYMOUS", func() bool { return describable(t, on, 3, "secret") == false })
	if !describable(t, on, 3, "open") {
		t.Error("node 3 hides open, which no ACL covers")
	}

	// A restarted node has them from the quorum.
	c.nodes[1].kill()
	c.restart(1)
	c.waitLive()
	waitFor(t, "restarted node 2 to describe the ACLs", func() bool { return slices.Equal(describedOn(2), want) })

	// Delete what applies to secret through node 3; node 1 follows.
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter(topicT, kmsg.StringPtr("secret"), kmsg.ACLResourcePatternTypeMatch)}
	dresp, err := on(3, del)
	if err != nil {
		t.Fatal(err)
	}
	if r := dresp.(*kmsg.DeleteACLsResponse).Results; len(r) != 1 || r[0].ErrorCode != 0 || len(r[0].MatchingACLs) != 2 {
		t.Fatalf("delete through node 3: %+v", r)
	}
	waitFor(t, "node 1 to show secret again", func() bool { return describable(t, on, 1, "secret") })
	waitFor(t, "node 1 to describe no ACLs", func() bool { return len(describedOn(1)) == 0 })
}

// describable reports whether node describes topic to this connection's
// principal: answered without error and with DESCRIBE among its
// authorized operations. Before every API checks its ACLs a denied topic
// is still answered, without DESCRIBE in its operations; after, it is
// answered TOPIC_AUTHORIZATION_FAILED. Both count as not describable.
func describable(t *testing.T, on func(int32, kmsg.Request) (kmsg.Response, error), node int32, topic string) bool {
	req := kmsg.NewPtrMetadataRequest()
	req.IncludeTopicAuthorizedOperations = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp, err := on(node, req)
	if err != nil {
		t.Logf("metadata from node %d: %v", node, err)
		return false
	}
	mt := resp.(*kmsg.MetadataResponse).Topics[0]
	return mt.ErrorCode == 0 && slices.Contains(kadm.DecodeACLOperations(mt.AuthorizedOperations), kmsg.ACLOperationDescribe)
}

// The adversary tests' well-formed ACL requests (adversary_requests_test.go).

func describeACLsReq(_ int16, tg fuzzTarget) kmsg.Request {
	return describeFilter(topicT, kmsg.StringPtr(tg.topic), kmsg.ACLResourcePatternTypeMatch, nil)
}

func createACLsReq(_ int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = []kmsg.CreateACLsRequestCreation{creation(topicT, tg.topic, literal, "User:fuzz", kmsg.ACLOperationRead),
		creation(kmsg.ACLResourceTypeGroup, tg.group, prefixedP, "User:*", kmsg.ACLOperationAll)}
	return req
}

func deleteACLsReq(_ int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter(topicT, kmsg.StringPtr(tg.topic), kmsg.ACLResourcePatternTypeAny),
		deleteFilter(kmsg.ACLResourceTypeAny, nil, kmsg.ACLResourcePatternTypeMatch)}
	return req
}
