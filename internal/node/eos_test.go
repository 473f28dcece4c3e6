package node_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExactlyOnceCopyWithKills runs franz-go's GroupTransactSession,
// Kafka's consume-transform-produce loop, in two workers of one group
// copying a topic to another on three nodes, while the node of the
// workers' transaction coordinator, of the group coordinator and of an
// output partition's leader are killed with SIGKILL and restarted in turn.
// The output, read with read_committed, must hold each input exactly once.
func TestExactlyOnceCopyWithKills(t *testing.T) {
	kills := 3
	if testing.Short() {
		kills = 2
	}
	c := newProcCluster(t, 3, "transaction.abort.timed.out.transaction.cleanup.interval.ms=500")
	adm := kadm.NewClient(c.client())
	const in, out, group = "eos-in", "eos-out", "eos-copy"
	createTopicRF(t, adm, in, 3, 3, nil)
	createTopicRF(t, adm, out, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	for p := range int32(3) {
		c.waitFullISR(adm, in, p)
		c.waitFullISR(adm, out, p)
	}
	// The input is written all along, so the workers have work through
	// every kill.
	feed := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(in), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordRetries(1000), kgo.MetadataMinAge(200*time.Millisecond)))
	ctx := testContext(t)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var commits, failedEnds atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			copyWorker(runCtx, t, c, fmt.Sprintf("eos-worker-%d", w), group, in, out, &commits, &failedEnds)
		})
	}

	victims := []struct {
		what string
		node func() int32
	}{
		{"the transaction coordinator", func() int32 {
			return coordinatorNode(adm.FindTxnCoordinators(ctx, "eos-worker-0"), "eos-worker-0")
		}},
		{"the group coordinator", func() int32 {
			return coordinatorNode(adm.FindGroupCoordinators(ctx, group), group)
		}},
		{"an output partition's leader", func() int32 { leader, _ := c.partitionState(adm, out, 1); return leader }},
	}
	for k := range kills {
		before := commits.Load()
		// A worker whose session failed rejoins the group, which waits
		// for the members it replaced to time out.
		waitForUpTo(t, 90*time.Second, "the workers to commit", func() bool { return commits.Load() > before+5 })
		v := victims[k%len(victims)]
		id := v.node()
		if id < 1 {
			t.Fatalf("kill %d: cannot tell %s", k+1, v.what)
		}
		c.nodes[id-1].kill()
		t.Logf("killed node %d, %s, after %d commits", id, v.what, commits.Load())
		time.Sleep(3 * time.Second)
		c.restart(int(id - 1))
		c.waitLive()
	}
	before := commits.Load()
	waitForUpTo(t, 90*time.Second, "the workers to commit after the kills", func() bool { return commits.Load() > before+5 })
	acked := feed.finish()
	// Let the group commit the whole input, then stop the workers.
	waitForUpTo(t, 90*time.Second, "the group to commit the whole input", func() bool {
		lag, err := adm.Lag(ctx, group)
		if err != nil || lag[group].FetchErr != nil || lag[group].DescribeErr != nil {
			return false
		}
		for _, l := range lag[group].Lag.Sorted() {
			if l.Err != nil || l.Lag > 0 {
				return false
			}
		}
		return true
	})
	stop()
	wg.Wait()
	t.Logf("%d inputs acknowledged; %d transactions committed, %d ended with an error or aborted", len(acked), commits.Load(), failedEnds.Load())

	// Every acknowledged input once; an input whose produce failed may
	// be there too (its outcome was unknown), but once at most.
	inputs, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	inputs.Each(func(o kadm.ListedOffset) { written += o.Offset })
	seen := make(map[string]int)
	got := consumeExactly(t, c.kafka[0], out, int(written), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.SeedBrokers(c.kafka...))
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("%s copied %d times", v, n)
		}
	}
	for _, v := range acked {
		if seen[v] != 1 {
			t.Errorf("acknowledged input %s copied %d times, want once", v, seen[v])
		}
	}
}

// coordinatorNode is the node of one coordinator lookup, or -1.
func coordinatorNode(found kadm.FindCoordinatorResponses, key string) int32 {
	if r, ok := found[key]; ok && r.Err == nil {
		return r.NodeID
	}
	return -1
}

// copyWorker copies in to out in transactions until ctx ends, starting a
// new session (the application's recovery) when one fails.
func copyWorker(ctx context.Context, t *testing.T, c *procCluster, id, group, in, out string, commits, failed *atomic.Int64) {
	for ctx.Err() == nil {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.kafka...), kgo.TransactionalID(id),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(200*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(10*time.Second), kgo.HeartbeatInterval(time.Second),
			kgo.RequestRetries(100), kgo.RetryTimeout(time.Minute), kgo.TransactionTimeout(20*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
		if err != nil {
			t.Errorf("%s: new session: %v", id, err)
			return
		}
		runSession(ctx, t, sess, id, out, commits, failed)
		sess.Close()
	}
}

// runSession runs one session's loop until it fails or ctx ends.
func runSession(ctx context.Context, t *testing.T, sess *kgo.GroupTransactSession, id, out string, commits, failed *atomic.Int64) {
	for ctx.Err() == nil {
		fetches := sess.PollRecords(ctx, 100)
		if ctx.Err() != nil {
			return
		}
		if err := sess.Begin(); err != nil {
			t.Logf("%s: begin: %v; new session", id, err)
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: r.Value}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		switch {
		case err != nil:
			failed.Add(1)
			t.Logf("%s: end: %v; new session", id, err)
			return
		case committed:
			commits.Add(1)
		default:
			failed.Add(1)
		}
	}
}
