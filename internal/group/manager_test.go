package group

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// refJavaHash is String.hashCode written from its definition, over the
// UTF-16 code units: s[0]*31^(n-1) + ... + s[n-1] in 32-bit arithmetic.
func refJavaHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group string
		hash  int32 // as Java computes it
		p50   int32 // Utils.abs(hash) % 50
	}{
		{"", 0, 0},
		{"a", 97, 47},
		{"group", 98629247, 47},
		{"my-consumer-group", 1513705513, 13},
		{"console-consumer-12345", 158455506, 6},
		{"polygenelubricants", -2147483648, 0}, // Integer.MIN_VALUE: Utils.abs masks it to 0
		{"grüppe", -1233264812, 36},
		{"消费者组", 871131088, 38},
		{"🙂group", 657827834, 34}, // a surrogate pair
	} {
		if got := javaStringHash(tc.group); got != tc.hash || refJavaHash(tc.group) != tc.hash {
			t.Errorf("hash(%q) = %d (reference %d), want %d", tc.group, got, refJavaHash(tc.group), tc.hash)
		}
		if got := PartitionFor(tc.group, 50); got != tc.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, got, tc.p50)
		}
		if got := PartitionFor(tc.group, 1); got != 0 {
			t.Errorf("PartitionFor(%q, 1) = %d", tc.group, got)
		}
	}
}

// testEnv is a Manager over real logs in a temporary directory.
type testEnv struct {
	t    *testing.T
	dir  string
	logs *storage.Manager
	m    *Manager
}

const testPartitions = 3

func openEnv(t *testing.T, dir string) *testEnv {
	t.Helper()
	ctx := context.Background()
	logs, err := storage.Open(ctx, storage.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(testPartitions) {
		if _, err := logs.CreateLog("__consumer_offsets", p, storage.DefaultLogConfig()); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewManager(ctx, Config{
		NumPartitions:   testPartitions,
		Log:             func(p int32) *storage.Log { return logs.Log("__consumer_offsets", p) },
		PartitionExists: func(topic string, p int32) bool { return topic == "t" && p < 4 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, dir: dir, logs: logs, m: m}
}

func (e *testEnv) close() {
	if err := e.m.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.logs.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) do(req kmsg.Request) kmsg.Response {
	e.t.Helper()
	resp, err := e.m.Handle(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func joinReq(group, member string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version, r.Group, r.MemberID = 9, group, member
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = 10000, 10000, "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	r.Protocols = append(r.Protocols, p)
	return r
}

func commitReq(group, member string, gen int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 9, group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = 1, offset, 4, kmsg.StringPtr("md")
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// rebalance runs one member through join, sync and leave, committing on
// the way; it returns the member id.
func (e *testEnv) rebalance(group string) {
	e.t.Helper()
	j := e.do(joinReq(group, "")).(*kmsg.JoinGroupResponse)
	if j.ErrorCode != kerr.MemberIDRequired.Code {
		e.t.Fatalf("join: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	// group.initial.rebalance.delay.ms (3s by default) applies.
	j = e.do(joinReq(group, j.MemberID)).(*kmsg.JoinGroupResponse)
	if j.ErrorCode != 0 || j.Generation != 1 {
		e.t.Fatalf("join: %v gen %d", kerr.ErrorForCode(j.ErrorCode), j.Generation)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.Generation = 5, group, j.MemberID, j.Generation
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte("x")}}
	if sr := e.do(s).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "x" {
		e.t.Fatalf("sync: %v %q", kerr.ErrorForCode(sr.ErrorCode), sr.MemberAssignment)
	}
	if cr := e.do(commitReq(group, j.MemberID, j.Generation, 42)).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		e.t.Fatalf("commit: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Version, l.Group = 5, group
	l.Members = []kmsg.LeaveGroupRequestMember{{MemberID: j.MemberID}}
	if lr := e.do(l).(*kmsg.LeaveGroupResponse); lr.Members[0].ErrorCode != 0 {
		e.t.Fatalf("leave: %v", kerr.ErrorForCode(lr.Members[0].ErrorCode))
	}
}

func (e *testEnv) describe(groups ...string) []kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version, r.Groups = 5, groups
	return e.do(r).(*kmsg.DescribeGroupsResponse).Groups
}

func (e *testEnv) fetch(groups ...string) []kmsg.OffsetFetchResponseGroup {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	for _, g := range groups {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		r.Groups = append(r.Groups, rg)
	}
	return e.do(r).(*kmsg.OffsetFetchResponse).Groups
}

func TestPersistence(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the initial rebalance delay")
	}
	dir := t.TempDir()
	e := openEnv(t, dir)
	// Groups on different partitions, to exercise the split and merge.
	groups := []string{"group", "a", "my-consumer-group", "doomed"}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() { defer wg.Done(); e.rebalance(g) }()
	}
	wg.Wait()
	d := kmsg.NewPtrDeleteGroupsRequest()
	d.Version, d.Groups = 2, []string{"doomed"}
	if dr := e.do(d).(*kmsg.DeleteGroupsResponse); dr.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(dr.Groups[0].ErrorCode))
	}
	e.close()

	e = openEnv(t, dir)
	defer e.close()
	for i, dg := range e.describe(groups...) {
		wantState, wantType := "Empty", "consumer"
		if groups[i] == "doomed" {
			wantState, wantType = "Dead", ""
		}
		if dg.Group != groups[i] || dg.State != wantState || dg.ProtocolType != wantType {
			t.Errorf("after reload %s: state %s type %q, want %s %q", groups[i], dg.State, dg.ProtocolType, wantState, wantType)
		}
	}
	for i, fg := range e.fetch(groups...) {
		if groups[i] == "doomed" {
			if len(fg.Topics) != 0 {
				t.Errorf("deleted group still has offsets: %+v", fg.Topics)
			}
			continue
		}
		if len(fg.Topics) != 1 || len(fg.Topics[0].Partitions) != 1 {
			t.Fatalf("after reload %s: offsets %+v", groups[i], fg.Topics)
		}
		p := fg.Topics[0].Partitions[0]
		if p.Offset != 42 || p.LeaderEpoch != 4 || p.Metadata == nil || *p.Metadata != "md" {
			t.Errorf("after reload %s: offset %d epoch %d metadata %v", groups[i], p.Offset, p.LeaderEpoch, p.Metadata)
		}
	}
	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 4
	if lr := e.do(l).(*kmsg.ListGroupsResponse); len(lr.Groups) != 3 {
		t.Errorf("listed %d groups, want 3: %+v", len(lr.Groups), lr.Groups)
	}
}

// TestCanceledJoin: a client that goes away while its JoinGroup waits
// gets its parked reply dropped, and the runner keeps serving.
func TestCanceledJoin(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close()
	j := e.do(joinReq("g", "")).(*kmsg.JoinGroupResponse)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	resp, err := e.m.Handle(ctx, joinReq("g", j.MemberID))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.JoinGroupResponse).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("canceled join answered %v", kerr.ErrorForCode(code))
	}
	if dg := e.describe("g")[0]; dg.State != "PreparingRebalance" {
		t.Fatalf("state %s", dg.State)
	}
}

// TestCloseAnswersParked: Close answers waiting JoinGroups.
func TestCloseAnswersParked(t *testing.T) {
	e := openEnv(t, t.TempDir())
	j := e.do(joinReq("g", "")).(*kmsg.JoinGroupResponse)
	done := make(chan kmsg.Response)
	go func() {
		resp, _ := e.m.Handle(context.Background(), joinReq("g", j.MemberID))
		done <- resp
	}()
	time.Sleep(20 * time.Millisecond) // let it park; Close must answer it either way
	e.close()
	select {
	case resp := <-done:
		if code := resp.(*kmsg.JoinGroupResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Fatalf("parked join answered %v", kerr.ErrorForCode(code))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parked join not answered on Close")
	}
}

func FuzzReplayRecord(f *testing.F) {
	f.Add(offsetRecord("g", topicPartition{"t", 1}, &offsetEntry{offset: 5, leaderEpoch: 2, metadata: "m"}).Key,
		offsetRecord("g", topicPartition{"t", 1}, &offsetEntry{offset: 5, leaderEpoch: 2, metadata: "m"}).Value)
	g := &group{protocolType: "consumer", protocol: "range", generation: 3, leader: "a",
		members: map[string]*member{"a": {id: "a", sessionTimeout: 10, assignment: []byte("x"),
			protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("m")}}}}}
	gr := groupRecord("g", g.metadataValue())
	f.Add(gr.Key, gr.Value)
	f.Add([]byte{0, 2, 0, 1, 'g'}, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := newCoordinator(coreConfig{newUUID: func() string { return "u" }})
		_ = replayRecord(c, key, value)
		c.loaded(time.Unix(0, 0))
		batch := record.Build(0, []record.Record{{Key: key, Value: value}})
		c.replayBatch(batch)
		c.replayBatch(value) // arbitrary bytes as a batch
	})
}
