package broker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
	"github.com/eddy-streaming/eddy/internal/txn"
)

// The ACL matrix: for each API, a request made with exactly the ACLs the
// row lists must pass its checks (answer want), and with any one of them
// missing must answer that ACL's denial. Every run has a fresh broker:
// topic "t" (2 partitions), group "g" and transactional id "tx" as
// names; the principal is alice.

const alice = "User:alice"

// aclRule is one allowed (operation, resource) for alice.
type aclRule struct {
	op   kmsg.ACLOperation
	typ  kmsg.ACLResourceType
	name string
}

func (a aclRule) String() string { return fmt.Sprintf("%v %v %q", a.op, a.typ, a.name) }

func topicACL(op kmsg.ACLOperation, name string) aclRule {
	return aclRule{op, kmsg.ACLResourceTypeTopic, name}
}
func groupACL(op kmsg.ACLOperation) aclRule { return aclRule{op, kmsg.ACLResourceTypeGroup, "g"} }
func txnACL(op kmsg.ACLOperation) aclRule {
	return aclRule{op, kmsg.ACLResourceTypeTransactionalId, "tx"}
}
func clusterACL(op kmsg.ACLOperation) aclRule {
	return aclRule{op, kmsg.ACLResourceTypeCluster, ClusterResource}
}

// tableAuthorizer allows alice what its table lists, and nothing else to
// anyone.
type tableAuthorizer struct {
	mu      sync.Mutex
	allowed map[aclRule]bool
	asked   int // Authorize calls, to check requests cost one per resource
}

func (a *tableAuthorizer) Authorize(principal, _ string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked++
	return principal == alice && a.allowed[aclRule{op, typ, name}]
}

func (a *tableAuthorizer) AuthorizeByResourceType(principal, _ string, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, ok := range a.allowed {
		if ok && principal == alice && k.op == op && k.typ == typ {
			return true
		}
	}
	return false
}

func (a *tableAuthorizer) allow(acls []aclRule) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed = map[aclRule]bool{}
	for _, k := range acls {
		a.allowed[k] = true
	}
}

// newACLBroker starts a standalone broker, group and transaction
// coordinators included, over fresh storage, with topic "t" and an
// authorizer that allows nothing yet.
func newACLBroker(t *testing.T) (*Broker, *tableAuthorizer) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	store, err := meta.Open(t.TempDir(), 1, log)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := config.ParseBrokerConfig(map[string]string{
		"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1",
		"group.initial.rebalance.delay.ms": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	pids, err := txn.OpenIDAllocator(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	authz := &tableAuthorizer{}
	cfg := Config{NodeID: 1, AdvertiseHost: "127.0.0.1", AdvertisePort: 9092, Logger: log, Settings: bc, Authorizer: authz}
	b, err := New(context.Background(), cfg, logs, replica.NewManager(replica.Config{NodeID: 1, Logs: logs}), store, pids)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.groups.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTopic(topicSpec{name: "t", partitions: 2, rf: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTxnTopic(); err != nil { // as a client's FindCoordinator would
		t.Fatal(err)
	}
	if err := b.txns.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, authz
}

// ask sends req as alice at the highest version served (or req's own, if
// set) and returns the answer as a client decodes it.
func ask(t *testing.T, b *Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	if req.GetVersion() == 0 {
		req.SetVersion(apis[req.Key()].max)
	}
	resp, err := b.Handle(context.Background(), &Request{Principal: alice, ClientHost: "127.0.0.1", Msg: req})
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	defer resp.Release()
	got := req.ResponseKind()
	if err := got.ReadFrom(resp.Msg.AppendTo(nil)); err != nil {
		t.Fatalf("%T v%d: the answer does not decode: %v", req, req.GetVersion(), err)
	}
	return got
}

// aclRow is one API in the matrix.
type aclRow struct {
	name string
	need []aclRule           // every ACL the request needs
	deny []int16             // per ACL of need, the code when it is missing
	want int16               // the code with all of need allowed
	req  func() kmsg.Request // a fresh request
	// setup, if set, prepares each run's broker, as the broker itself.
	code  func(kmsg.Response) int16 // the code the row looks at
	setup func(*testing.T, *Broker)
}

func TestACLMatrix(t *testing.T) {
	for _, row := range aclRows() {
		t.Run(row.name, func(t *testing.T) {
			if len(row.deny) != len(row.need) {
				t.Fatalf("row lists %d ACLs and %d denials", len(row.need), len(row.deny))
			}
			b, authz := newACLBroker(t)
			if row.setup != nil {
				row.setup(t, b)
			}
			authz.allow(row.need)
			if got := row.code(ask(t, b, row.req())); got != row.want {
				t.Errorf("all of %v allowed: code %v, want %v", row.need, kerr.ErrorForCode(got), kerr.ErrorForCode(row.want))
			}
			for i, missing := range row.need {
				b, authz := newACLBroker(t)
				if row.setup != nil {
					row.setup(t, b)
				}
				var rest []aclRule
				for j, a := range row.need {
					if j != i {
						rest = append(rest, a)
					}
				}
				authz.allow(rest)
				if got := row.code(ask(t, b, row.req())); got != row.deny[i] {
					t.Errorf("without %v: code %v, want %v", missing, kerr.ErrorForCode(got), kerr.ErrorForCode(row.deny[i]))
				}
			}
		})
	}
}

var (
	topicDenied   = kerr.TopicAuthorizationFailed.Code
	groupDenied   = kerr.GroupAuthorizationFailed.Code
	clusterDenied = kerr.ClusterAuthorizationFailed.Code
	txnDenied     = kerr.TransactionalIDAuthorizationFailed.Code
)

const (
	read            = kmsg.ACLOperationRead
	write           = kmsg.ACLOperationWrite
	create          = kmsg.ACLOperationCreate
	describeOp      = kmsg.ACLOperationDescribe
	deleteOp        = kmsg.ACLOperationDelete
	alterOp         = kmsg.ACLOperationAlter
	describeConfigs = kmsg.ACLOperationDescribeConfigs
	alterConfigs    = kmsg.ACLOperationAlterConfigs
	clusterAction   = kmsg.ACLOperationClusterAction
	idempotentWrite = kmsg.ACLOperationIdempotentWrite
)

func aclRows() []aclRow {
	var rows []aclRow
	rows = append(rows, dataRows()...)
	rows = append(rows, adminRows()...)
	rows = append(rows, groupRows()...)
	rows = append(rows, txnRows()...)
	return rows
}

// first returns the code of the first item f finds, or top if non-zero.
func first[R kmsg.Response](f func(R) int16) func(kmsg.Response) int16 {
	return func(resp kmsg.Response) int16 { return f(resp.(R)) }
}

func produceRequest(txnID *string, batch []byte) kmsg.Request {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 12, 1, 5000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

func producePartitionCode(r *kmsg.ProduceResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode }

func fetchRequest(replicaID int32) kmsg.Request {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, replicaID, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	return req
}

func listOffsetsRequest() kmsg.Request {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	return req
}

func offsetForLeaderEpochRequest() kmsg.Request {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
	rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
	req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
	return req
}

func metadataRequest(topic string) kmsg.Request {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	return req
}

func describeProducersRequest() kmsg.Request {
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = []kmsg.DescribeProducersRequestTopic{rt}
	return req
}

func dataRows() []aclRow {
	txnBatch := record.BuildTransactional(0, []record.Record{{Value: []byte("v")}}, 1, 0)
	return []aclRow{
		{name: "Produce", need: []aclRule{topicACL(write, "t")}, deny: []int16{topicDenied},
			req: func() kmsg.Request {
				return produceRequest(nil, record.Build(0, []record.Record{{Value: []byte("v")}}))
			},
			code: first(producePartitionCode)},
		{name: "Produce/transactional", need: []aclRule{txnACL(write), topicACL(write, "t")}, deny: []int16{txnDenied, topicDenied},
			want: kerr.InvalidProducerIDMapping.Code, // passed its checks; no such producer
			req:  func() kmsg.Request { return produceRequest(kmsg.StringPtr("tx"), txnBatch) },
			code: first(producePartitionCode)},
		{name: "Fetch", need: []aclRule{topicACL(read, "t")}, deny: []int16{topicDenied},
			req:  func() kmsg.Request { return fetchRequest(-1) },
			code: first(func(r *kmsg.FetchResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "Fetch/follower", need: []aclRule{clusterACL(clusterAction)}, deny: []int16{topicDenied},
			want: kerr.NotLeaderForPartition.Code,
			req:  func() kmsg.Request { return fetchRequest(2) },
			code: first(func(r *kmsg.FetchResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "ListOffsets", need: []aclRule{topicACL(describeOp, "t")}, deny: []int16{topicDenied},
			req:  listOffsetsRequest,
			code: first(func(r *kmsg.ListOffsetsResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "OffsetForLeaderEpoch/consumer", need: []aclRule{topicACL(describeOp, "t")}, deny: []int16{topicDenied},
			req:  offsetForLeaderEpochRequest,
			code: first(func(r *kmsg.OffsetForLeaderEpochResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "OffsetForLeaderEpoch/replica", need: []aclRule{clusterACL(clusterAction)}, deny: []int16{topicDenied},
			req:  offsetForLeaderEpochRequest,
			code: first(func(r *kmsg.OffsetForLeaderEpochResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "Metadata", need: []aclRule{topicACL(describeOp, "t")}, deny: []int16{topicDenied},
			req:  func() kmsg.Request { return metadataRequest("t") },
			code: first(func(r *kmsg.MetadataResponse) int16 { return r.Topics[0].ErrorCode })},
		{name: "Metadata/auto-create by topic", need: []aclRule{topicACL(describeOp, "new"), topicACL(create, "new")},
			deny: []int16{topicDenied, topicDenied},
			req:  func() kmsg.Request { return metadataRequest("new") },
			code: first(func(r *kmsg.MetadataResponse) int16 { return r.Topics[0].ErrorCode })},
		{name: "Metadata/auto-create by cluster", need: []aclRule{topicACL(describeOp, "new"), clusterACL(create)},
			deny: []int16{topicDenied, topicDenied},
			req:  func() kmsg.Request { return metadataRequest("new") },
			code: first(func(r *kmsg.MetadataResponse) int16 { return r.Topics[0].ErrorCode })},
		{name: "DescribeProducers", need: []aclRule{topicACL(read, "t")}, deny: []int16{topicDenied},
			req:  describeProducersRequest,
			code: first(func(r *kmsg.DescribeProducersResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
	}
}

// Lists are filtered rather than refused, as Kafka: each case asks with
// the ACLs given and checks what the answer shows.
func TestACLFiltering(t *testing.T) {
	for _, c := range []struct {
		name  string
		allow []aclRule
		req   func() kmsg.Request
		shown func(kmsg.Response) []string
		want  []string
	}{
		{"Metadata/all topics", []aclRule{topicACL(describeOp, "t")}, allTopicsMetadata, metadataNames, []string{"t"}},
		{"Metadata/no topics", nil, allTopicsMetadata, metadataNames, nil},
		{"ListGroups/by group", []aclRule{groupACL(describeOp)}, listGroups, listedGroups, []string{"g"}},
		{"ListGroups/by cluster", []aclRule{clusterACL(describeOp)}, listGroups, listedGroups, []string{"g", "h"}},
		{"ListGroups/none", nil, listGroups, listedGroups, nil},
		{"OffsetFetch/all topics", []aclRule{groupACL(describeOp)}, allOffsets, fetchedTopics, nil},
		{"OffsetFetch/all topics, t described", []aclRule{groupACL(describeOp), topicACL(describeOp, "t")}, allOffsets, fetchedTopics, []string{"t"}},
		{"DescribeCluster/operations", []aclRule{clusterACL(describeOp), clusterACL(alterOp)}, describeClusterOps, operationNames,
			[]string{"ALTER", "DESCRIBE"}},
		{"DescribeCluster/no DESCRIBE", []aclRule{clusterACL(alterOp)}, describeClusterOps, operationNames, nil},
		{"ListTransactions/by id", []aclRule{txnACL(describeOp)}, listTransactions, listedTransactions, []string{"tx"}},
		{"ListTransactions/none", nil, listTransactions, listedTransactions, nil},
		{"DescribeTransactions/topics", []aclRule{txnACL(describeOp), topicACL(describeOp, "t")}, describeTx, describedTopics, []string{"t"}},
		{"DescribeTransactions/topics hidden", []aclRule{txnACL(describeOp)}, describeTx, describedTopics, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, authz := newACLBroker(t)
			commitOffsets(t, b, "g", "h")
			beginTxn(t, b, "tx")
			beginTxn(t, b, "ty")
			authz.allow(c.allow)
			got := c.shown(ask(t, b, c.req()))
			if !slices.Equal(got, c.want) {
				t.Errorf("shown %q, want %q", got, c.want)
			}
		})
	}
}

// commitOffsets makes groups with an offset of t-0 each, as this broker
// itself (no ACL guards it).
func commitOffsets(t *testing.T, b *Broker, groups ...string) {
	t.Helper()
	for _, g := range groups {
		req := offsetCommitRequest().(*kmsg.OffsetCommitRequest)
		req.Group = g
		resp, err := b.Handle(context.Background(), &Request{Msg: req, internal: true})
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Msg.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("committing for %s: %v", g, kerr.ErrorForCode(code))
		}
	}
}

func allTopicsMetadata() kmsg.Request { return kmsg.NewPtrMetadataRequest() } // nil topics: all

func metadataNames(resp kmsg.Response) []string {
	var out []string
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.Topic != nil && !meta.IsInternalTopic(*t.Topic) {
			out = append(out, *t.Topic)
		}
	}
	return out
}

func listGroups() kmsg.Request { return kmsg.NewPtrListGroupsRequest() }

func listedGroups(resp kmsg.Response) []string {
	var out []string
	for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
		out = append(out, g.Group)
	}
	slices.Sort(out)
	return out
}

func allOffsets() kmsg.Request {
	req := kmsg.NewPtrOffsetFetchRequest()
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "g" // Topics nil: all
	req.Version, req.Groups = 9, []kmsg.OffsetFetchRequestGroup{g}
	return req
}

func fetchedTopics(resp kmsg.Response) []string {
	var out []string
	for _, t := range resp.(*kmsg.OffsetFetchResponse).Groups[0].Topics {
		out = append(out, t.Topic)
	}
	return out
}

func describeClusterOps() kmsg.Request {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	return req
}

func operationNames(resp kmsg.Response) []string {
	var out []string
	ops := resp.(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations
	for op := kmsg.ACLOperation(0); op < 32; op++ {
		if ops&(1<<op) != 0 {
			out = append(out, op.String())
		}
	}
	return out
}

// A request naming a topic in many partitions, or twice, asks the
// Authorizer once.
func TestACLOneCheckPerTopic(t *testing.T) {
	manyFetch := func() kmsg.Request {
		req := fetchRequest(-1).(*kmsg.FetchRequest)
		for p := int32(1); p < 100; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p%2, 1<<10
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		return req
	}
	twiceProduced := func() kmsg.Request {
		req := produceRequest(nil, record.Build(0, []record.Record{{Value: []byte("v")}})).(*kmsg.ProduceRequest)
		again := req.Topics[0]
		again.Partitions = []kmsg.ProduceRequestTopicPartition{again.Partitions[0]}
		again.Partitions[0].Partition = 1
		req.Topics = append(req.Topics, again)
		return req
	}
	for _, c := range []struct {
		name  string
		allow aclRule
		req   func() kmsg.Request
	}{
		{"Fetch", topicACL(read, "t"), manyFetch},
		{"Produce", topicACL(write, "t"), twiceProduced},
		{"Metadata", topicACL(describeOp, "t"), func() kmsg.Request { return metadataRequest("t") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, authz := newACLBroker(t)
			authz.allow([]aclRule{c.allow})
			ask(t, b, c.req())
			if authz.asked != 1 {
				t.Errorf("asked the authorizer %d times", authz.asked)
			}
		})
	}
}

// internally sends req as this broker itself, which no ACL guards.
func internally(t *testing.T, b *Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	if req.GetVersion() == 0 {
		req.SetVersion(apis[req.Key()].max)
	}
	resp, err := b.Handle(context.Background(), &Request{Msg: req, internal: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg
}

// beginTxn starts a transaction of id that has added t-0.
func beginTxn(t *testing.T, b *Broker, id string) {
	t.Helper()
	init := internally(t, b, initProducerIDRequest(kmsg.StringPtr(id))()).(*kmsg.InitProducerIDResponse)
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId %s: %v", id, kerr.ErrorForCode(init.ErrorCode))
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3 // a client's
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, init.ProducerID, init.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	resp := internally(t, b, add).(*kmsg.AddPartitionsToTxnResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn %s: %v", id, kerr.ErrorForCode(code))
	}
}

func listTransactions() kmsg.Request { return kmsg.NewPtrListTransactionsRequest() }

func listedTransactions(resp kmsg.Response) []string {
	var out []string
	for _, s := range resp.(*kmsg.ListTransactionsResponse).TransactionStates {
		out = append(out, s.TransactionalID)
	}
	slices.Sort(out)
	return out
}

func describeTx() kmsg.Request {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{"tx"}
	return req
}

func describedTopics(resp kmsg.Response) []string {
	var out []string
	for _, t := range resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].Topics {
		out = append(out, t.Topic)
	}
	return out
}
