package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// testCluster is N replica managers over their own logs of partition t-0,
// wired the way nodes are: followers fetch from the leader's Partition
// (serveFetch stands in for the broker's Fetch handler), and ISR changes
// go through a controller that checks epochs as the quorum does and then
// applies the new state everywhere, as the image reaches every node.
type testCluster struct {
	t      *testing.T
	nodes  map[int32]*Manager
	logs   map[int32]*storage.Manager
	regs   map[int32]*prometheus.Registry
	minISR int64

	mu    sync.Mutex
	state State
	cut   map[int32]bool // nodes whose fetches fail
}

func newTestCluster(t *testing.T, minISR int64, ids ...int32) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[int32]*Manager{}, logs: map[int32]*storage.Manager{}, regs: map[int32]*prometheus.Registry{}, minISR: minISR, cut: map[int32]bool{}}
	lc := storage.DefaultLogConfig()
	lc.MinInsyncReplicas = minISR
	for _, id := range ids {
		logs, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), ManualHighWatermark: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := logs.CreateLog("t", 0, lc); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		m := NewManager(Config{NodeID: id, Logs: logs, Logger: slog.New(slog.DiscardHandler), Send: c.sender(id),
			AlterISR: c.alterISR, LagTimeMax: 300 * time.Millisecond, FetchWait: 50 * time.Millisecond, Registerer: reg})
		c.nodes[id], c.logs[id], c.regs[id] = m, logs, reg
		t.Cleanup(func() { m.Close(); logs.Close() })
	}
	c.elect(ids[0], ids)
	return c
}

// elect makes leader lead at the next epoch with isr, everywhere.
func (c *testCluster) elect(leader int32, isr []int32) {
	c.mu.Lock()
	c.state.Leader, c.state.LeaderEpoch, c.state.PartitionEpoch = leader, c.state.LeaderEpoch+1, c.state.PartitionEpoch+1
	c.state.ISR = slices.Clone(isr)
	if c.state.Replicas == nil {
		c.state.Replicas = slices.Collect(func(yield func(int32) bool) {
			for id := range c.nodes {
				if !yield(id) {
					return
				}
			}
		})
		slices.Sort(c.state.Replicas)
	}
	s := c.state
	c.mu.Unlock()
	c.publish(s)
}

func (c *testCluster) publish(s State) {
	for _, m := range c.nodes {
		if err := m.Apply("t", 0, s); err != nil {
			c.t.Errorf("apply %+v: %v", s, err)
		}
	}
}

func (c *testCluster) alterISR(_ context.Context, ch ISRChange) (int32, error) {
	c.mu.Lock()
	if ch.Leader != c.state.Leader || ch.LeaderEpoch != c.state.LeaderEpoch || ch.PartitionEpoch != c.state.PartitionEpoch {
		c.mu.Unlock()
		return 0, fmt.Errorf("stale change %+v, partition is %+v", ch, c.state)
	}
	c.state.ISR, c.state.PartitionEpoch = slices.Clone(ch.ISR), c.state.PartitionEpoch+1
	s := c.state
	c.mu.Unlock()
	go c.publish(s) // the image reaches the nodes later
	return s.PartitionEpoch, nil
}

func (c *testCluster) isr() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.state.ISR)
}

func (c *testCluster) setCut(id int32, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[id] = cut
}

func (c *testCluster) sender(from int32) func(context.Context, int32, kmsg.Request) (kmsg.Response, error) {
	isCut := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cut[from]
	}
	return func(ctx context.Context, to int32, req kmsg.Request) (kmsg.Response, error) {
		if isCut() {
			time.Sleep(10 * time.Millisecond)
			return nil, errors.New("link cut")
		}
		resp, err := serveFetch(ctx, c.nodes[to], from, req.(*kmsg.FetchRequest))
		if isCut() { // a reply in flight when the link was cut is lost
			return nil, errors.New("link cut")
		}
		return resp, err
	}
}

// serveFetch answers a follower's fetch of t-0 as the broker's handler
// does: epoch checks, divergence, FollowerFetched, ReadReplica, and a
// long poll for new data.
func serveFetch(ctx context.Context, m *Manager, from int32, req *kmsg.FetchRequest) (kmsg.Response, error) {
	rq := req.Topics[0].Partitions[0]
	resp := kmsg.NewPtrFetchResponse()
	rp := kmsg.NewFetchResponseTopicPartition()
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	defer func() { rt.Partitions = append(rt.Partitions, rp); resp.Topics = append(resp.Topics, rt) }()
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		p, err := m.Partition("t", 0)
		if err != nil {
			rp.ErrorCode = kerr.NotLeaderForPartition.Code
			return resp, nil
		}
		changed := p.Changed()
		div, err := p.Divergence(rq.CurrentLeaderEpoch, rq.LastFetchedEpoch, rq.FetchOffset)
		if err == nil && div == nil {
			err = p.FollowerFetched(from, rq.FetchOffset, time.Now())
		}
		var res storage.ReadResult
		if err == nil && div == nil {
			res, err = p.ReadReplica(rq.FetchOffset, int64(rq.PartitionMaxBytes), true)
		}
		rp.HighWatermark, rp.LogStartOffset = p.HighWatermark(), p.LogStartOffset()
		switch {
		case errors.Is(err, storage.ErrOffsetOutOfRange):
			rp.ErrorCode = kerr.OffsetOutOfRange.Code
			return resp, nil
		case err != nil:
			rp.ErrorCode = kerr.UnknownServerError.Code
			return resp, nil
		case div != nil:
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = div.Epoch, div.EndOffset
			return resp, nil
		}
		for _, ch := range res.Chunks {
			b, err := ch.ReadAll()
			ch.Release()
			if err != nil {
				return nil, err
			}
			rp.RecordBatches = append(rp.RecordBatches, b...)
		}
		if len(rp.RecordBatches) > 0 || !time.Now().Before(deadline) {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
	}
}

func (c *testCluster) leader(id int32) *Partition {
	c.t.Helper()
	p, err := c.nodes[id].Partition("t", 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// logBytes reads node id's whole log; nil if a truncation cut the read.
func (c *testCluster) logBytes(id int32) []byte {
	c.t.Helper()
	l := c.logs[id].Log("t", 0)
	res, err := l.ReadReplica(l.LogStartOffset(), 1<<30, true)
	if errors.Is(err, storage.ErrLogTruncated) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	var out []byte
	for _, ch := range res.Chunks {
		b, err := ch.ReadAll()
		ch.Release()
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// converged waits until every node's log is byte for byte the leader's,
// high watermarks included.
func (c *testCluster) converged(leader int32, ids ...int32) {
	c.t.Helper()
	waitFor(c.t, func() bool {
		want := c.logBytes(leader)
		if want == nil {
			return false
		}
		for _, id := range ids {
			if !bytes.Equal(c.logBytes(id), want) || c.logs[id].Log("t", 0).HighWatermark() != c.logs[leader].Log("t", 0).HighWatermark() {
				return false
			}
		}
		return true
	})
}

func produce(t *testing.T, p *Partition, n int, acks int16, timeout time.Duration) (storage.AppendResult, error) {
	t.Helper()
	return p.Append(context.Background(), recordtest.Simple(n, 20), AppendOptions{Acks: acks, Timeout: timeout})
}

func TestReplicationAcksAllWaitsForTheISR(t *testing.T) {
	c := newTestCluster(t, 2, 1, 2, 3)
	p := c.leader(1)
	for i := range 20 {
		res, err := produce(t, p, 5, -1, 5*time.Second)
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		// Answered only once the ISR holds it: below the high watermark.
		if hw := p.HighWatermark(); hw < res.BaseOffset+5 {
			t.Fatalf("produce %d acknowledged at %d with the high watermark at %d", i, res.BaseOffset, hw)
		}
	}
	c.converged(1, 2, 3)
	if got := c.logs[2].Log("t", 0).LogEndOffset(); got != 100 {
		t.Fatalf("follower holds %d records; want 100", got)
	}
	if _, err := c.nodes[2].Partition("t", 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower's partition: %v; want not leader", err)
	}
}

// isrChanges reads node id's ISR shrink and expand counters.
func (c *testCluster) isrChanges(id int32) (shrinks, expands float64) {
	c.t.Helper()
	mfs, err := c.regs[id].Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "eddy_isr_shrinks_total":
			shrinks = mf.GetMetric()[0].GetCounter().GetValue()
		case "eddy_isr_expands_total":
			expands = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return shrinks, expands
}

func TestReplicationISRShrinksAndGrows(t *testing.T) {
	c := newTestCluster(t, 2, 1, 2, 3)
	p := c.leader(1)
	if s, e := c.isrChanges(1); s != 0 || e != 0 {
		t.Fatalf("ISR counters at start: %v shrinks, %v expands", s, e)
	}
	if _, err := produce(t, p, 5, -1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.setCut(3, true)
	// Node 3 stops fetching: after replica.lag.time.max.ms the leader
	// drops it, and acks=all goes on with nodes 1 and 2.
	waitFor(t, func() bool { return slices.Equal(c.isr(), []int32{1, 2}) })
	if _, err := produce(t, p, 5, -1, 5*time.Second); err != nil {
		t.Fatalf("produce with ISR [1 2]: %v", err)
	}
	// Node 2 goes too: the ISR is below min.insync.replicas, so the wait
	// ends NOT_ENOUGH_REPLICAS_AFTER_APPEND and the next produce is refused.
	c.setCut(2, true)
	waitFor(t, func() bool { return slices.Equal(c.isr(), []int32{1}) })
	waitFor(t, func() bool { return slices.Equal(p.ISR(), []int32{1}) })
	// The leader counts a change once the controller answers it, which
	// may be a moment after its state shows it.
	waitFor(t, func() bool { s, _ := c.isrChanges(1); return s >= 2 })
	if _, e := c.isrChanges(1); e != 0 {
		t.Fatalf("%v ISR expansions while followers only left", e)
	}
	hw := p.HighWatermark()
	if _, err := produce(t, p, 5, -1, time.Second); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("produce with ISR [1], min 2: %v; want not enough replicas", err)
	}
	if _, err := produce(t, p, 5, 1, time.Second); err != nil {
		t.Fatalf("acks=1 produce: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := p.HighWatermark(); got != hw {
		t.Fatalf("high watermark moved from %d to %d with the ISR below min.insync.replicas", hw, got)
	}
	// Both come back, catch up and rejoin; the high watermark reaches the end.
	c.setCut(2, false)
	c.setCut(3, false)
	waitFor(t, func() bool { return len(c.isr()) == 3 })
	waitFor(t, func() bool { _, e := c.isrChanges(1); return e >= 2 })
	if s, _ := c.isrChanges(2); s != 0 {
		t.Fatalf("follower 2 counted %v ISR shrinks of a partition it does not lead", s)
	}
	c.converged(1, 2, 3)
	if hw, end := p.HighWatermark(), c.logs[1].Log("t", 0).LogEndOffset(); hw != end {
		t.Fatalf("high watermark %d, log end %d after the ISR grew back", hw, end)
	}
}

func TestReplicationAcksAllWaitEndsWhenISRShrinksBelowMin(t *testing.T) {
	c := newTestCluster(t, 2, 1, 2)
	p := c.leader(1)
	if _, err := produce(t, p, 1, -1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.setCut(2, true)
	_, err := produce(t, p, 1, -1, 10*time.Second)
	if !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all while the only follower is cut off: %v; want not enough replicas after append", err)
	}
}

func TestReplicationTruncatesADivergedTail(t *testing.T) {
	c := newTestCluster(t, 1, 1, 2)
	p := c.leader(1)
	if _, err := produce(t, p, 10, -1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.converged(1, 2)
	// Node 1 writes records node 2 never gets (acks=1), then loses the
	// leadership to node 2, which writes others at the same offsets.
	c.setCut(2, true)
	if _, err := produce(t, p, 5, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.elect(2, []int32{2})
	c.setCut(2, false)
	p2 := c.leader(2)
	if _, err := produce(t, p2, 3, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	// Node 1 follows: its epoch-0 tail past offset 10 goes, node 2's
	// records replace it, byte for byte.
	c.converged(2, 1)
	if got := c.logs[1].Log("t", 0).LogEndOffset(); got != 13 {
		t.Fatalf("node 1's log ends at %d; want 13", got)
	}
}

// A follower that was away while the leader deleted the records it needed
// next (DeleteRecords past its log end) is answered OFFSET_OUT_OF_RANGE;
// it empties its log, starts it again at the leader's log start, catches
// up byte for byte from there and rejoins the ISR. The leader's log start
// may fall inside a batch, which the leader serves whole.
func TestReplicationFollowerBelowLeaderLogStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start int64
	}{
		{"at a batch boundary", 100},
		{"inside a batch", 103},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 1, 1, 2)
			p := c.leader(1)
			for range 10 {
				if _, err := produce(t, p, 5, -1, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			c.converged(1, 2)
			c.setCut(2, true)
			waitFor(t, func() bool { return slices.Equal(c.isr(), []int32{1}) })
			for range 20 {
				if _, err := produce(t, p, 5, -1, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := p.DeleteRecordsBefore(context.Background(), tc.start); err != nil || got != tc.start {
				t.Fatalf("DeleteRecordsBefore(%d) = %d, %v", tc.start, got, err)
			}
			follower := c.logs[2].Log("t", 0)
			if end := follower.LogEndOffset(); end >= tc.start {
				t.Fatalf("the follower's log ends at %d, not below the leader's log start %d", end, tc.start)
			}
			c.setCut(2, false)
			waitFor(t, func() bool { return len(c.isr()) == 2 })
			c.converged(1, 2)
			if start := follower.LogStartOffset(); start != tc.start {
				t.Fatalf("the follower's log starts at %d; want the leader's %d", start, tc.start)
			}
			if _, err := follower.ReadReplica(tc.start-1, 1<<20, true); !errors.Is(err, storage.ErrOffsetOutOfRange) {
				t.Fatalf("the follower reads below its log start: %v", err)
			}
			// Replication goes on from there.
			if _, err := produce(t, p, 5, -1, 5*time.Second); err != nil {
				t.Fatalf("acks=all produce after the follower rejoined: %v", err)
			}
			c.converged(1, 2)
			if got, want := c.logBytes(2), c.logBytes(1); !bytes.Equal(got, want) || len(want) == 0 {
				t.Fatalf("the follower holds %d bytes from its log start; the leader %d", len(got), len(want))
			}
			if end := follower.LogEndOffset(); end != 155 {
				t.Fatalf("the follower's log ends at %d; want 155", end)
			}
		})
	}
}

// TestISRMetricsFromImage: an ISR change the controller made (it fenced a
// follower) reaches the leader through the image and is counted there,
// once; followers count nothing.
func TestISRMetricsFromImage(t *testing.T) {
	c := newTestCluster(t, 1, 1, 2, 3)
	c.leader(1)
	c.setCut(3, true) // or it would catch up and be taken back at once
	c.mu.Lock()
	c.state.ISR, c.state.PartitionEpoch = []int32{1, 2}, c.state.PartitionEpoch+1
	s := c.state
	c.mu.Unlock()
	c.publish(s)
	c.publish(s) // a repeated image changes nothing
	if sh, ex := c.isrChanges(1); sh != 1 || ex != 0 {
		t.Fatalf("leader counted %v shrinks, %v expands; want 1, 0", sh, ex)
	}
	for _, id := range []int32{2, 3} {
		if sh, ex := c.isrChanges(id); sh != 0 || ex != 0 {
			t.Fatalf("follower %d counted %v shrinks, %v expands", id, sh, ex)
		}
	}
}
