package group

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/javahash"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
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
		if got := javahash.String(tc.group); got != tc.hash || refJavaHash(tc.group) != tc.hash {
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

// openEnv opens the Manager over dir's logs and elects every partition.
func openEnv(t *testing.T, dir string) *testEnv {
	t.Helper()
	return openEnvWith(t, dir, nil)
}

// openEnvWith is openEnv with the Manager's series on reg.
func openEnvWith(t *testing.T, dir string, reg prometheus.Registerer) *testEnv {
	t.Helper()
	e := openUnelectedWith(t, dir, reg)
	for p := range int32(testPartitions) {
		if err := e.m.Elect(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// openUnelected opens the Manager over dir's logs, led by this node, but
// coordinating no partition.
func openUnelected(t *testing.T, dir string) *testEnv {
	t.Helper()
	return openUnelectedWith(t, dir, nil)
}

func openUnelectedWith(t *testing.T, dir string, reg prometheus.Registerer) *testEnv {
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
	replicas := replica.NewManager(replica.Config{NodeID: 1, Logs: logs})
	if err := replicas.Lead("__consumer_offsets", 0, testPartitions, 0); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ctx, Config{
		NumPartitions: testPartitions,
		Log: func(p int32) *replica.Partition {
			part, _ := replicas.Partition("__consumer_offsets", p)
			return part
		},
		PartitionExists: func(topic string, p int32) bool { return topic == "t" && p < 4 },
		Topics:          func() map[string]int32 { return map[string]int32{"t": 4} },
		TopicID:         testTopicID,
		TopicName:       testTopicName,
		Registerer:      reg,
	})
	if err != nil {
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

// cgMember is a KIP-848 consumer driven by hand: what it was told.
type cgMember struct {
	id       string
	epoch    int32
	assigned map[int32]bool
}

func (e *testEnv) cgHeartbeat(group string, m *cgMember, join bool) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version, r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = 1, group, m.id, m.epoch, -1
	if join {
		r.MemberEpoch, r.RebalanceTimeoutMillis, r.SubscribedTopicNames = 0, 30000, []string{"t"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else if m.epoch >= 0 {
		t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		t.TopicID, _ = testTopicID("t")
		for p := range m.assigned {
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{t}
	}
	resp := e.do(r).(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode == 0 && m.epoch >= 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.assigned = map[int32]bool{}
			for _, t := range resp.Assignment.Topics {
				for _, p := range t.Partitions {
					m.assigned[p] = true
				}
			}
		}
	}
	return resp
}

func (e *testEnv) cgDescribe(group string) kmsg.ConsumerGroupDescribeResponseGroup {
	e.t.Helper()
	r := kmsg.NewPtrConsumerGroupDescribeRequest()
	r.Groups = []string{group}
	return e.do(r).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
}

// converge heartbeats every member until the group is Stable.
func (e *testEnv) converge(group string, ms []*cgMember) kmsg.ConsumerGroupDescribeResponseGroup {
	e.t.Helper()
	for range 20 {
		for _, m := range ms {
			if resp := e.cgHeartbeat(group, m, false); resp.ErrorCode != 0 {
				e.t.Fatalf("heartbeat of %s: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
			}
		}
		if d := e.cgDescribe(group); d.State == "Stable" {
			return d
		}
	}
	e.t.Fatalf("group %s does not converge: %+v", group, e.cgDescribe(group))
	return kmsg.ConsumerGroupDescribeResponseGroup{}
}

// TestConsumerGroupPersistence: a KIP-848 consumer group's membership
// survives a restart: members, epochs and assignments come back, members
// carry on at their epochs, a member that left stays gone.
func TestConsumerGroupPersistence(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	ms := []*cgMember{{id: "m-a"}, {id: "m-b"}, {id: "m-c"}, {id: "m-d"}}
	for _, m := range ms {
		if resp := e.cgHeartbeat("cg", m, true); resp.ErrorCode != 0 {
			t.Fatalf("join %s: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	e.converge("cg", ms)
	gone := ms[3]
	gone.epoch = -1
	if resp := e.cgHeartbeat("cg", gone, false); resp.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ms = ms[:3]
	before := e.converge("cg", ms)
	if len(before.Members) != 3 {
		t.Fatalf("members before restart: %+v", before.Members)
	}
	commit := commitReq("cg", "m-a", ms[0].epoch, 9)
	if cr := e.do(commit).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	e.close()

	e = openEnv(t, dir)
	defer e.close()
	if after := e.cgDescribe("cg"); !reflect.DeepEqual(after, before) {
		t.Fatalf("after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	for _, m := range ms {
		old := m.epoch
		resp := e.cgHeartbeat("cg", m, false)
		if resp.ErrorCode != 0 || resp.MemberEpoch != old {
			t.Fatalf("heartbeat of %s at epoch %d after restart: %v epoch %d", m.id, old, kerr.ErrorForCode(resp.ErrorCode), resp.MemberEpoch)
		}
	}
	gone.epoch = 1
	if resp := e.cgHeartbeat("cg", gone, false); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("the member that left heartbeats after restart: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if commit := commitReq("cg", "m-a", ms[0].epoch, 10); e.do(commit).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal("commit at the member epoch after restart refused")
	}
	if fg := e.fetch("cg")[0]; len(fg.Topics) != 1 || fg.Topics[0].Partitions[0].Offset != 10 {
		t.Fatalf("offsets after restart: %+v", fg.Topics)
	}
	// Everything the group wrote replays to the same state again, and
	// deleting it once empty leaves nothing behind.
	for _, m := range ms {
		m.epoch = -1
		e.cgHeartbeat("cg", m, false)
	}
	d := kmsg.NewPtrDeleteGroupsRequest()
	d.Version, d.Groups = 2, []string{"cg"}
	if dr := e.do(d).(*kmsg.DeleteGroupsResponse); dr.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(dr.Groups[0].ErrorCode))
	}
	e.close()
	e = openEnv(t, dir)
	if dg := e.cgDescribe("cg"); dg.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted consumer group after restart: %+v", dg)
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
	inst, regex := "i", "t.*"
	tps := []cgTopicPartitions{{id: [16]byte{'t'}, partitions: []int32{0, 2}}}
	for _, rec := range []consumerRecord{
		{kind: cgMetadataKeyVersion, group: "g", value: &cgMetadataValue{epoch: 3}},
		{kind: cgPartitionMetadataKeyVersion, group: "g", value: &cgTopicsValue{topics: []cgTopicMetadata{{id: [16]byte{'t'}, name: "t", partitions: 3}}}},
		{kind: cgMemberKeyVersion, group: "g", member: "m", value: &cgMemberValue{instanceID: &inst, clientID: "c", host: "h",
			topicNames: []string{"t"}, regex: &regex, rebalanceTimeout: 100}},
		{kind: cgTargetMetadataKeyVersion, group: "g", value: &cgTargetEpochValue{epoch: 3}},
		{kind: cgTargetMemberKeyVersion, group: "g", member: "m", value: &cgTargetValue{partitions: tps}},
		{kind: cgCurrentKeyVersion, group: "g", member: "m", value: &cgCurrentValue{epoch: 3, prevEpoch: 2, state: 1, assigned: tps, revoking: tps}},
		{kind: cgCurrentKeyVersion, group: "g", member: "m"},
		{kind: cgMetadataKeyVersion, group: "g"},
	} {
		k, v := rec.encode()
		f.Add(k, v)
		if len(v) > 3 {
			f.Add(k, v[:len(v)-3]) // truncated
		}
	}
	f.Add([]byte{0, 9, 0, 1, 'g'}, []byte{0, 0, 0})            // share group metadata: skipped
	f.Add([]byte{0, 8, 0, 1, 'g', 0, 1, 'm'}, []byte{0, 1, 0}) // unknown value version
	f.Add([]byte{0, 4, 0, 1, 'g'}, []byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := newCoordinator(coreConfig{newUUID: func() string { return "u" }, topicName: testTopicName, topicID: testTopicID})
		_ = replayRecord(c, key, value)
		c.loaded(time.Unix(0, 0))
		batch := record.Build(0, []record.Record{{Key: key, Value: value}})
		c.replayBatch(batch)
		c.replayBatch(value) // arbitrary bytes as a batch
	})
}
