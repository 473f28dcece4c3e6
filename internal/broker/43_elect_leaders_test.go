package broker

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// newClusterBroker is newConfigBroker whose image also registers brokers
// 1–3, live at epoch 1, and holds topic "r": 3 partitions of 3 replicas.
func newClusterBroker(t *testing.T) *Broker {
	t.Helper()
	b := newConfigBroker(t, nil, nil)
	for id := int32(1); id <= 3; id++ {
		if err := b.ctrl.RegisterBroker(meta.Broker{ID: id, Host: "127.0.0.1", Port: 9000 + id, Epoch: 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.ctrl.UnfenceBroker(id, 1); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := b.ctrl.PlanTopic(controller.NewTopic{Name: "r", Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ctrl.CreateTopic(rec); err != nil {
		t.Fatal(err)
	}
	return b
}

// electRequest is an ElectLeaders request at version v of the given type
// for topics (nil: every partition).
func electRequest(v int16, typ int8, topics []kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersRequest {
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType, req.Topics = v, typ, topics
	return req
}

// electWire sends req to b and returns the answer as a client decodes it
// at req's version, so fields a version lacks are gone.
func electWire(t *testing.T, b *Broker, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	t.Helper()
	resp, err := handleElectLeaders(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	got := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if err := got.ReadFrom(resp.Msg.AppendTo(nil)); err != nil {
		t.Fatalf("v%d response does not decode: %v", req.Version, err)
	}
	return got
}

// electionCodes flattens an answer to each partition's error code,
// failing on a partition answered twice.
func electionCodes(t *testing.T, resp *kmsg.ElectLeadersResponse) map[controller.TopicPartition]int16 {
	t.Helper()
	out := map[controller.TopicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			tp := controller.TopicPartition{Topic: rt.Topic, Partition: p.Partition}
			if _, dup := out[tp]; dup {
				t.Errorf("v%d answers %v twice", resp.Version, tp)
			}
			out[tp] = p.ErrorCode
		}
	}
	return out
}

// partitionsOf names every partition of the image whose assignment pick
// selects, each with code.
func partitionsOf(b *Broker, code int16, pick func(meta.Partition) bool) map[controller.TopicPartition]int16 {
	out := map[controller.TopicPartition]int16{}
	for _, t := range b.meta.Image().Topics() {
		for i, a := range t.Assignments {
			if pick(a) {
				out[controller.TopicPartition{Topic: t.Name, Partition: int32(i)}] = code
			}
		}
	}
	return out
}

// every names every partition of every topic, for a request.
func every(b *Broker) []kmsg.ElectLeadersRequestTopic {
	var out []kmsg.ElectLeadersRequestTopic
	for _, t := range b.meta.Image().Topics() {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = t.Name
		for i := range t.Assignments {
			rt.Partitions = append(rt.Partitions, int32(i))
		}
		out = append(out, rt)
	}
	return out
}

func checkCodes(t *testing.T, what string, got, want map[controller.TopicPartition]int16) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s: codes %v, want %v", what, got, want)
	}
}

// A standalone node leads every partition it has: nothing to elect, in
// every version and election type; unknown partitions are named; a
// partition named twice is answered once; all partitions answer nothing.
func TestElectLeadersStandalone(t *testing.T) {
	b := newConfigBroker(t, nil, nil)
	notNeeded, unknown := kerr.ElectionNotNeeded.Code, kerr.UnknownTopicOrPartition.Code
	named := []kmsg.ElectLeadersRequestTopic{
		{Topic: "t", Partitions: []int32{0, 1, 0, 7}},
		{Topic: "nope", Partitions: []int32{0}},
		{Topic: "t", Partitions: []int32{1, -1}},
	}
	want := map[controller.TopicPartition]int16{tp("t", 0): notNeeded, tp("t", 1): notNeeded, tp("t", 7): unknown,
		tp("nope", 0): unknown, tp("t", -1): unknown}
	for v := int16(0); v <= 2; v++ {
		for typ := int8(0); typ <= min(1, int8(v)); typ++ {
			resp := electWire(t, b, electRequest(v, typ, named))
			checkCodes(t, "named", electionCodes(t, resp), want)
			if len(resp.Topics) != 2 || resp.Topics[0].Topic != "t" || resp.Topics[1].Topic != "nope" || resp.ErrorCode != 0 {
				t.Errorf("v%d type %d: topics %+v, error %d", v, typ, resp.Topics, resp.ErrorCode)
			}
			if resp := electWire(t, b, electRequest(v, typ, nil)); len(resp.Topics) != 0 || resp.ErrorCode != 0 {
				t.Errorf("v%d type %d: all partitions answered %+v", v, typ, resp)
			}
		}
	}
}

// An election type other than preferred (0) and unclean (1) is refused
// for every partition and at the top; v0 has no type to get wrong.
func TestElectLeadersBadType(t *testing.T) {
	b := newConfigBroker(t, nil, nil)
	named := []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	for v := int16(1); v <= 2; v++ {
		resp := electWire(t, b, electRequest(v, 2, named))
		checkCodes(t, "type 2", electionCodes(t, resp), map[controller.TopicPartition]int16{tp("t", 0): kerr.InvalidRequest.Code})
		if resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("v%d type 2: top-level error %d", v, resp.ErrorCode)
		}
		if resp := electWire(t, b, electRequest(v, -1, nil)); resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.Topics) != 0 {
			t.Errorf("v%d type -1, all partitions: %+v", v, resp)
		}
	}
	resp := electWire(t, b, electRequest(0, 2, named))
	checkCodes(t, "v0", electionCodes(t, resp), map[controller.TopicPartition]int16{tp("t", 0): kerr.ElectionNotNeeded.Code})
}

// A fenced preferred leader cannot be elected; back, live and in sync,
// it is, once; then nothing is left to elect.
func TestElectLeadersPreferred(t *testing.T) {
	b := newClusterBroker(t)
	r, _ := b.meta.Topic("r")
	pref := r.Assignments[0].Replicas[0]
	if err := b.ctrl.FenceBroker(pref, 1); err != nil {
		t.Fatal(err)
	}
	prefers := func(a meta.Partition) bool { return a.Replicas[0] == pref }
	unavailable := partitionsOf(b, kerr.PreferredLeaderNotAvailable.Code, prefers)
	want := partitionsOf(b, kerr.ElectionNotNeeded.Code, func(meta.Partition) bool { return true })
	maps.Copy(want, unavailable)
	for v := int16(0); v <= 2; v++ {
		checkCodes(t, "named, preferred leader fenced", electionCodes(t, electWire(t, b, electRequest(v, 0, every(b)))), want)
		// Asked for everything, only the failures are news.
		checkCodes(t, "all, preferred leader fenced", electionCodes(t, electWire(t, b, electRequest(v, 0, nil))), unavailable)
	}

	// Back at a new epoch and unfenced: its leaderless partitions (of
	// topic t, if it is broker 1) are its again; it is not in r's ISRs.
	if err := b.ctrl.RegisterBroker(meta.Broker{ID: pref, Host: "127.0.0.1", Port: 9000 + pref, Epoch: 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.ctrl.UnfenceBroker(pref, 2); err != nil {
		t.Fatal(err)
	}
	moved := partitionsOf(b, kerr.PreferredLeaderNotAvailable.Code, func(a meta.Partition) bool { return a.Leader != a.Replicas[0] })
	checkCodes(t, "back, out of sync", electionCodes(t, electWire(t, b, electRequest(1, 0, nil))), moved)
	r, _ = b.meta.Topic("r")
	for i, a := range r.Assignments {
		if _, err := b.ctrl.AlterPartition("r", int32(i), a.Leader, a.LeaderEpoch, a.PartitionEpoch, a.Replicas); err != nil {
			t.Fatal(err)
		}
	}
	for tp := range moved {
		moved[tp] = 0
	}
	checkCodes(t, "back, in sync", electionCodes(t, electWire(t, b, electRequest(2, 0, nil))), moved)
	for _, t2 := range b.meta.Image().Topics() {
		for i, a := range t2.Assignments {
			if a.Leader != a.Replicas[0] {
				t.Errorf("%s-%d led by %d after a preferred election, replicas %v", t2.Name, i, a.Leader, a.Replicas)
			}
		}
	}
	if resp := electWire(t, b, electRequest(2, 0, nil)); len(resp.Topics) != 0 {
		t.Errorf("a second election answered %+v", resp.Topics)
	}
	want = partitionsOf(b, kerr.ElectionNotNeeded.Code, func(meta.Partition) bool { return true })
	checkCodes(t, "named, second election", electionCodes(t, electWire(t, b, electRequest(0, 0, every(b)))), want)
}

// With the whole ISR fenced, an unclean election (v1+ only) gives a
// leaderless partition a live replica outside it; v0 is always preferred.
func TestElectLeadersUnclean(t *testing.T) {
	b := newClusterBroker(t)
	for id := int32(1); id <= 3; id++ {
		if err := b.ctrl.FenceBroker(id, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Broker 1 comes back without the election UnfenceBroker would run.
	if _, err := b.meta.Apply(meta.BrokerFenceRecord{ID: 1, Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	// r-0 named twice: elected twice in one proposal, the second change
	// would be stale and fail the whole election.
	r := []kmsg.ElectLeadersRequestTopic{{Topic: "r", Partitions: []int32{0, 1, 2, 0}}}
	inR := func(code int16) map[controller.TopicPartition]int16 {
		return map[controller.TopicPartition]int16{tp("r", 0): code, tp("r", 1): code, tp("r", 2): code}
	}
	checkCodes(t, "v0 ignores the type", electionCodes(t, electWire(t, b, electRequest(0, 1, r))), inR(kerr.PreferredLeaderNotAvailable.Code))
	checkCodes(t, "v1 preferred", electionCodes(t, electWire(t, b, electRequest(1, 0, r))), inR(kerr.PreferredLeaderNotAvailable.Code))
	if len(partitionsOf(b, 0, func(a meta.Partition) bool { return a.Leader != -1 })) != 0 {
		t.Fatal("a partition has a leader with its whole ISR fenced")
	}
	checkCodes(t, "v1 unclean", electionCodes(t, electWire(t, b, electRequest(1, 1, r))), inR(0))
	for i, a := range mustTopic(t, b, "r").Assignments {
		if a.Leader != 1 || !slices.Equal(a.ISR, []int32{1}) {
			t.Errorf("r-%d after an unclean election: leader %d, ISR %v", i, a.Leader, a.ISR)
		}
	}
	checkCodes(t, "v2 unclean again", electionCodes(t, electWire(t, b, electRequest(2, 1, r))), inR(kerr.ElectionNotNeeded.Code))
	// Topic t's one replica, broker 1, is its ISR: live again, it is
	// elected by any election; r needs nothing more.
	want := map[controller.TopicPartition]int16{tp("t", 0): 0, tp("t", 1): 0}
	checkCodes(t, "all unclean", electionCodes(t, electWire(t, b, electRequest(2, 1, nil))), want)
}

func tp(topic string, p int32) controller.TopicPartition {
	return controller.TopicPartition{Topic: topic, Partition: p}
}

func mustTopic(t *testing.T, b *Broker, name string) meta.Topic {
	t.Helper()
	tp, ok := b.meta.Topic(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return tp
}
