package controller

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// liveBrokers registers and unfences brokers 1..len(racks) on racks.
func liveBrokers(t *testing.T, h *harness, racks ...string) {
	t.Helper()
	for i, rack := range racks {
		id := int32(i + 1)
		if err := h.c.RegisterBroker(meta.Broker{ID: id, Host: "h", Port: 9092, Rack: rack, Epoch: 1}); err != nil {
			t.Fatal(err)
		}
		if err := h.c.UnfenceBroker(id, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// With racks, every partition's replicas span as many racks as its
// replication factor allows; leaders spread evenly, replicas within one
// (the rack rule comes first).
func TestPlaceOverRacks(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	liveBrokers(t, h, "a", "a", "b", "b", "c", "c")
	rec, err := h.c.PlanTopic(NewTopic{Name: "racked", Partitions: 12, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for i, p := range rec.Partitions {
		racks := map[string]bool{}
		for _, r := range p.Replicas {
			b, _ := h.store.Image().Broker(r)
			racks[b.Rack] = true
			replicas[r]++
		}
		if len(racks) != 3 || p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) {
			t.Errorf("partition %d: %+v spans racks %v", i, p, racks)
		}
		leaders[p.Leader]++
	}
	for id := int32(1); id <= 6; id++ {
		if leaders[id] != 2 || replicas[id] < 5 || replicas[id] > 7 {
			t.Errorf("broker %d leads %d and holds %d replicas of 12 partitions × 3 over 6 brokers; want 2 and 6±1", id, leaders[id], replicas[id])
		}
	}
}

// A broker's heartbeats unfence it; without them its session expires and
// it is fenced, its leaderships moving; a heartbeat asking to shut down
// moves them at once and says when it may stop; an older incarnation is
// refused.
func TestHeartbeatsAndSessions(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	for id := int32(1); id <= 3; id++ {
		if err := h.c.RegisterBroker(meta.Broker{ID: id, Host: "h", Port: 9092, Epoch: 5}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1000, 0)
	const session = 2 * time.Second
	h.c.live.reset(now)
	for id := int32(1); id <= 3; id++ {
		res, err := h.c.Heartbeat(Heartbeat{Broker: id, Epoch: 5}, now)
		if err != nil || res.Fenced {
			t.Fatalf("heartbeat of %d: %+v, %v; want unfenced", id, res, err)
		}
	}
	if _, err := h.c.Heartbeat(Heartbeat{Broker: 1, Epoch: 4}, now); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("heartbeat of an old incarnation: %v, want ErrUnknownBroker", err)
	}
	rec, err := h.c.PlanTopic(NewTopic{Name: "t", Partitions: 3, ReplicationFactor: 3})
	if err == nil {
		_, err = h.c.CreateTopic(rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	// 1 and 2 keep heartbeating; 3 goes silent.
	for i := range 5 {
		now = now.Add(500 * time.Millisecond)
		for id := int32(1); id <= 2; id++ {
			if _, err := h.c.Heartbeat(Heartbeat{Broker: id, Epoch: 5}, now); err != nil {
				t.Fatal(err)
			}
		}
		expired := h.c.live.expired(h.store.Image(), now, session)
		if want := i == 4; (len(expired) == 1 && expired[0].ID == 3) != want || len(expired) > 1 {
			t.Fatalf("after %v: expired %v", time.Duration(i+1)*500*time.Millisecond, expired)
		}
	}
	if err := h.c.FenceBroker(3, 5); err != nil {
		t.Fatal(err)
	}
	if leadsAny(h.store.Image(), 3) || h.store.Image().Live(3) {
		t.Fatalf("fenced broker 3 still leads or is live: %s", dump(h.store.Image()))
	}
	// Controlled shutdown of 1: its leaderships go to 2.
	res, err := h.c.Heartbeat(Heartbeat{Broker: 1, Epoch: 5, WantShutdown: true}, now)
	if err != nil || !res.ShouldShutdown || !res.Fenced {
		t.Fatalf("shutdown heartbeat: %+v, %v", res, err)
	}
	tp, _ := h.store.Topic("t")
	for i, p := range tp.Assignments {
		if p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
			t.Errorf("t-%d after 1 shut down and 3 expired: %+v, want led by 2 alone", i, p)
		}
	}
	// 3 comes back and heartbeats: unfenced, but not in any ISR until
	// its leaders add it.
	res, err = h.c.Heartbeat(Heartbeat{Broker: 3, Epoch: 5}, now)
	if err != nil || res.Fenced || !h.store.Image().Live(3) {
		t.Fatalf("returning broker: %+v, %v", res, err)
	}
}

// RunDuties fences a silent broker within its session on the leader only.
func TestRunDutiesFencesSilentBrokers(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	liveBrokers(t, h, "", "")
	ctx := t.Context()
	leading := make(chan bool, 1)
	leading <- false
	isLeader := func() bool { v := <-leading; leading <- v; return v }
	go h.c.RunDuties(ctx, DutyConfig{Leading: isLeader, Session: 200 * time.Millisecond, Tick: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	time.Sleep(400 * time.Millisecond)
	if len(h.store.Image().LiveBrokers()) != 2 {
		t.Fatal("a node that does not lead the quorum fenced brokers")
	}
	<-leading
	leading <- true
	start := time.Now()
	for h.store.Image().Live(2) {
		if _, err := h.c.Heartbeat(Heartbeat{Broker: 1, Epoch: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a silent broker was never fenced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !h.store.Image().Live(1) {
		t.Fatal("the broker that heartbeats was fenced too")
	}
}

// A registration retried after the quorum applied it (the proposer was told
// a leader change may have lost it) succeeds instead of being refused as a
// stale epoch; another incarnation at the same epoch is still refused.
func TestRegistrationRetried(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	b := meta.Broker{ID: 1, Host: "h", Port: 9092, Epoch: 7}
	for range 2 {
		if err := h.c.RegisterBroker(b); err != nil {
			t.Fatalf("registering %+v: %v", b, err)
		}
	}
	b.Host = "elsewhere"
	if err := h.c.RegisterBroker(b); !errors.Is(err, meta.ErrStaleBrokerEpoch) {
		t.Fatalf("another node at the same epoch: %v, want ErrStaleBrokerEpoch", err)
	}
}
