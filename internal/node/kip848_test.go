package node_test

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kip848Settings add quick KIP-848 heartbeats and sessions to groupSettings.
var kip848Settings = func() map[string]string {
	s := maps.Clone(groupSettings)
	s["group.consumer.heartbeat.interval.ms"] = "200"
	s["group.consumer.session.timeout.ms"] = "3000"
	return s
}()

// describeConsumerGroup asks the coordinator for a KIP-848 group's state.
func describeConsumerGroup(t *testing.T, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

// TestKIP848SplitsAndRebalances runs three next-gen (server-side
// assignment) members over six partitions, with each server assignor:
// they split 2/2/2, and 3/3 once one leaves.
func TestKIP848SplitsAndRebalances(t *testing.T) {
	tn := startNode(t, "", kip848Settings)
	adm := newAdmin(t, tn.KafkaAddr())
	for _, tc := range []struct {
		assignor string
		balancer kgo.GroupBalancer
	}{{"uniform", kgo.CooperativeStickyBalancer()}, {"range", kgo.RangeBalancer()}} {
		t.Run(tc.assignor, func(t *testing.T) {
			topic := "six-" + tc.assignor
			createTopic(t, adm, topic, 6, nil)
			opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(tc.balancer)}
			a := startMember(t, tn.KafkaAddr(), topic, topic, "a", opts...)
			b := startMember(t, tn.KafkaAddr(), topic, topic, "b", opts...)
			c := startMember(t, tn.KafkaAddr(), topic, topic, "c", opts...)
			waitSplit(t, 6, []int{2, 2, 2}, a, b, c)

			g := describeConsumerGroup(t, newClient(t, tn.KafkaAddr()), topic)
			if g.ErrorCode != 0 || g.AssignorName != tc.assignor || len(g.Members) != 3 || g.Epoch != g.AssignmentEpoch {
				t.Fatalf("describe: error %d assignor %q members %d epoch %d/%d", g.ErrorCode, g.AssignorName, len(g.Members), g.Epoch, g.AssignmentEpoch)
			}
			listed, err := adm.ListGroups(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if lg, ok := listed[topic]; !ok || lg.ProtocolType != "consumer" {
				t.Fatalf("ListGroups: %+v", listed[topic])
			}

			b.leave()
			waitSplit(t, 6, []int{3, 3}, a, c)
		})
	}
}

// TestKIP848DeadMemberExpires cuts a next-gen member off: its session
// (group.consumer.session.timeout.ms) ends and the others take over.
func TestKIP848DeadMemberExpires(t *testing.T) {
	tn := startNode(t, "", kip848Settings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "expire848", 4, nil)
	d := &severableDialer{}
	a := startMember(t, tn.KafkaAddr(), "expire848", "expire848", "a", kgo.ServerSideBalancer())
	b := startMember(t, tn.KafkaAddr(), "expire848", "expire848", "b", kgo.ServerSideBalancer(), kgo.Dialer(d.DialContext))
	waitSplit(t, 4, []int{2, 2}, a, b)
	d.sever()
	waitFor(t, "a to take over after b's session expires", func() bool { return len(a.partitions()) == 4 })
}

// TestKIP848StaticRejoinKeepsAssignment restarts a static next-gen
// member: it leaves with epoch -2, and the same instance id comes back to
// its partitions without the other member giving any up.
func TestKIP848StaticRejoinKeepsAssignment(t *testing.T) {
	tn := startNode(t, "", kip848Settings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "static848", 4, nil)
	opts := func(id string) []kgo.Opt { return []kgo.Opt{kgo.ServerSideBalancer(), kgo.InstanceID(id)} }
	a := startMember(t, tn.KafkaAddr(), "static848", "static848", "a", opts("a")...)
	b := startMember(t, tn.KafkaAddr(), "static848", "static848", "b", opts("b")...)
	waitSplit(t, 4, []int{2, 2}, a, b)
	bWas := b.partitions()
	a.mu.Lock()
	aRevokes := len(a.revoked)
	a.mu.Unlock()
	b.leave()
	b = startMember(t, tn.KafkaAddr(), "static848", "static848", "b-restarted", opts("b")...)
	waitSplit(t, 4, []int{2, 2}, a, b)
	if got := b.partitions(); fmt.Sprint(got) != fmt.Sprint(bWas) {
		t.Fatalf("restarted static member got %v, had %v", got, bWas)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.revoked) != aRevokes {
		t.Fatalf("the other member gave up partitions when a static member rejoined")
	}
}

// TestKIP848ConsumesEveryRecordOnce runs next-gen members that join and
// leave while records flow; committing after processing, with no
// failures, every record is consumed exactly once.
func TestKIP848ConsumesEveryRecordOnce(t *testing.T) {
	tn := startNode(t, "", kip848Settings)
	consumeOnceAcrossLife(t, tn.KafkaAddr(), "once848", kgo.ServerSideBalancer())
}

// childKIP848Args are childGroupArgs with quick KIP-848 heartbeats.
var childKIP848Args = append([]string{"--set", "group.consumer.heartbeat.interval.ms=200",
	"--set", "group.consumer.session.timeout.ms=6000"}, childGroupArgs...)

// TestKIP848MembershipSurvivesKill9 kills a broker with SIGKILL under a
// next-gen consumer and restarts it: the group's membership is durable,
// so the consumer carries on at its member epoch (no partitions lost, no
// rejoin) and reads on from where it was; every record is seen, none is
// skipped, and its commits are durable.
func TestKIP848MembershipSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cb := startChildAt(t, dir, addr, childKIP848Args...)
	createTopic(t, newAdmin(t, addr), "kill848", 3, nil)
	produce := func(from, to int) {
		cl := newClient(t, addr, kgo.DefaultProduceTopic("kill848"))
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))})
		}
		if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
		cl.Close()
	}
	produce(0, 300)

	var lost atomic.Int32
	a := startMember(t, addr, "kill848", "kill848", "a", kgo.ServerSideBalancer(), kgo.AutoCommitInterval(100*time.Millisecond),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { lost.Add(1) }))
	// A second member that comes and goes moves the group epoch on, so a
	// rejoin after the restart would show as a lower epoch.
	b := startMember(t, addr, "kill848", "kill848", "b", kgo.ServerSideBalancer())
	waitFor(t, "b to get partitions", func() bool { return len(b.partitions()) > 0 })
	b.leave()
	seen := func() map[string]int {
		a.mu.Lock()
		defer a.mu.Unlock()
		out := map[string]int{}
		for _, r := range a.records {
			out[string(r.Value)]++
		}
		return out
	}
	waitFor(t, "a to consume the first records", func() bool { return len(seen()) == 300 })
	var before kmsg.ConsumerGroupDescribeResponseGroup
	waitFor(t, "the group to be stable with a alone", func() bool {
		before = describeConsumerGroup(t, newClient(t, addr), "kill848")
		return before.State == "Stable" && len(before.Members) == 1 && len(before.Members[0].Assignment.TopicPartitions) == 1 &&
			len(before.Members[0].Assignment.TopicPartitions[0].Partitions) == 3
	})
	lostBefore := lost.Load()

	cb.kill()
	startChildAt(t, dir, addr, childKIP848Args...)
	produce(300, 600)
	waitFor(t, "a to consume every record", func() bool { return len(seen()) == 600 })
	for i := range 600 {
		if seen()[fmt.Sprint(i)] == 0 {
			t.Fatalf("record %d never consumed", i)
		}
	}
	// Per partition, the offsets read run from 0 with no gap.
	a.mu.Lock()
	offsets := map[int32]map[int64]bool{}
	for _, r := range a.records {
		if offsets[r.Partition] == nil {
			offsets[r.Partition] = map[int64]bool{}
		}
		offsets[r.Partition][r.Offset] = true
	}
	a.mu.Unlock()
	total := 0
	for p, os := range offsets {
		for o := range int64(len(os)) {
			if !os[o] {
				t.Fatalf("partition %d: offset %d skipped", p, o)
			}
		}
		total += len(os)
	}
	if total != 600 {
		t.Fatalf("read %d distinct offsets, want 600", total)
	}

	after := describeConsumerGroup(t, newClient(t, addr), "kill848")
	if after.ErrorCode != 0 || len(after.Members) != 1 || after.Members[0].MemberID != before.Members[0].MemberID ||
		after.Epoch != before.Epoch || after.Members[0].MemberEpoch != before.Members[0].MemberEpoch {
		t.Fatalf("after the restart: epoch %d member %+v; before: epoch %d member %+v", after.Epoch, after.Members, before.Epoch, before.Members)
	}
	if n := lost.Load(); n != lostBefore {
		t.Fatalf("the consumer lost its partitions %d times across the restart", n-lostBefore)
	}
	adm := newAdmin(t, addr)
	waitFor(t, "the commits to reach the end", func() bool {
		fetched, err := adm.FetchOffsets(testContext(t), "kill848")
		if err != nil || fetched.Error() != nil {
			return false
		}
		sum := int64(0)
		for p := range int32(3) {
			o, _ := fetched.Lookup("kill848", p)
			sum += o.At
		}
		return sum == 600
	})
}
