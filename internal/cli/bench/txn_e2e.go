package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// stampSize is the length of the send time (Unix nanoseconds, big-endian)
// at the start of each end-to-end record's value. Record timestamps would
// do, but Kafka keeps them in milliseconds.
const stampSize = 8

// drainTimeout bounds how long the end-to-end consumers may take to read
// the last committed records once the producer has stopped.
const drainTimeout = 30 * time.Second

// e2eResult is what the end-to-end phase of bench txn measured.
type e2eResult struct {
	Rate            float64    `json:"rate"`
	Transactions    int64      `json:"transactions"`
	Produced        int64      `json:"produced"` // records in committed transactions
	ReadCommitted   e2eLatency `json:"read_committed"`
	ReadUncommitted e2eLatency `json:"read_uncommitted"`
}

// e2eLatency is one consumer's produce-to-consume latency.
type e2eLatency struct {
	Isolation string  `json:"isolation"`
	Records   int64   `json:"records"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

func (r e2eResult) line() string {
	return fmt.Sprintf("%s\n%s", r.ReadCommitted.line(r), r.ReadUncommitted.line(r))
}

func (l e2eLatency) line(r e2eResult) string {
	return fmt.Sprintf("e2e %s at %.0f records/s: p50 %.2f ms  p99 %.2f ms  max %.2f ms  records %d of %d committed in %d transactions",
		l.Isolation, r.Rate, l.P50Ms, l.P99Ms, l.MaxMs, l.Records, r.Produced, r.Transactions)
}

// e2eConsumer reads the end-to-end topic at one isolation level and times
// every record from its stamp to the poll that returned it.
type e2eConsumer struct {
	isolation string
	cl        *kgo.Client
	seen      atomic.Int64 // read by the waiting goroutine
	hist      histogram    // owned by run; read once run has returned
}

// newE2EConsumer reads topic from the given offsets, without a group.
func newE2EConsumer(conn client.Conn, topic string, from map[int32]kgo.Offset, iso kgo.IsolationLevel, name string) (*e2eConsumer, error) {
	cl, err := conn.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(iso),
	)
	if err != nil {
		return nil, fmt.Errorf("creating %s consumer: %w", name, err)
	}
	return &e2eConsumer{isolation: name, cl: cl}, nil
}

// run polls until ctx ends.
func (c *e2eConsumer) run(ctx context.Context) error {
	for {
		fetches := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetchError(ctx, fetches); err != nil {
			return fmt.Errorf("%s consumer: %w", c.isolation, err)
		}
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			if len(r.Value) < stampSize {
				return // not written by this workload
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))
			c.hist.record(now.Sub(sent))
			c.seen.Add(1)
		})
	}
}

func (c *e2eConsumer) result() e2eLatency {
	return e2eLatency{
		Isolation: c.isolation,
		Records:   c.seen.Load(),
		P50Ms:     ms(c.hist.quantile(0.50)),
		P99Ms:     ms(c.hist.quantile(0.99)),
		MaxMs:     ms(time.Duration(c.hist.max)),
	}
}

// runE2E is phase 3 of bench txn: a transactional producer at cfg.e2eRate
// while a read_committed and a read_uncommitted consumer read what it
// writes.
func runE2E(ctx context.Context, tgt target, cfg txnConfig) (e2eResult, error) {
	r := e2eResult{Rate: cfg.e2eRate}
	pc := cfg.produceConfig
	pc.topic = cfg.e2eTopic()
	if cfg.create {
		if err := createTopic(ctx, tgt.conn, pc.topic, pc.partitions, pc.replicationFactor); err != nil {
			return r, err
		}
	}
	p, err := newTxnProducer(tgt.conn, pc, "e2e")
	if err != nil {
		return r, err
	}
	defer p.cl.Close()
	if err := p.warmUp(ctx, make([]byte, stampSize)); err != nil {
		return r, err
	}
	// The consumers start at the end of the log as it is after the warm-up,
	// so they read exactly the records timed below.
	from, err := endOffsets(ctx, tgt.conn, pc.topic)
	if err != nil {
		return r, err
	}
	cs, err := newE2EConsumers(tgt.conn, pc.topic, from)
	if err != nil {
		return r, err
	}
	err = consumeWhile(ctx, cs, func() (int64, error) {
		err := p.pacedE2E(ctx, time.Now(), cfg)
		return p.committedRecords, err
	})
	r.Transactions, r.Produced = int64(p.commits.total), p.committedRecords
	r.ReadCommitted, r.ReadUncommitted = cs[0].result(), cs[1].result()
	return r, err
}

// newE2EConsumers returns the read_committed and the read_uncommitted
// consumer, in that order.
func newE2EConsumers(conn client.Conn, topic string, from map[int32]kgo.Offset) ([]*e2eConsumer, error) {
	committed, err := newE2EConsumer(conn, topic, from, kgo.ReadCommitted(), "read_committed")
	if err != nil {
		return nil, err
	}
	uncommitted, err := newE2EConsumer(conn, topic, from, kgo.ReadUncommitted(), "read_uncommitted")
	if err != nil {
		committed.cl.Close()
		return nil, err
	}
	return []*e2eConsumer{committed, uncommitted}, nil
}

// consumeWhile runs the consumers while produce runs, then until each has
// seen the records produce says it committed or drainTimeout passes, and
// closes them.
func consumeWhile(ctx context.Context, cs []*e2eConsumer, produce func() (int64, error)) error {
	cctx, cancel := context.WithCancel(ctx)
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.run(cctx) })
	}
	want, err := produce()
	if err == nil {
		waitSeen(cctx, cs, want)
	}
	cancel()
	wg.Wait()
	for _, c := range cs {
		c.cl.Close()
	}
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// waitSeen polls until every consumer has seen want records, ctx ends or
// drainTimeout passes; the result shows which.
func waitSeen(ctx context.Context, cs []*e2eConsumer, want int64) {
	deadline := time.Now().Add(drainTimeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		done := true
		for _, c := range cs {
			done = done && c.seen.Load() >= want
		}
		if done {
			return
		}
		sleep(ctx, 10*time.Millisecond)
	}
}

// pacedE2E sends record i at start + i/rate, committing every
// cfg.commitInterval, until cfg.duration has passed. Each value starts with
// the record's scheduled time: a commit holds the producer up (the next
// transaction cannot begin before it returns), and the records it delays
// are timed from when they were due, not from when they could be sent.
func (p *txnProducer) pacedE2E(ctx context.Context, start time.Time, cfg txnConfig) error {
	interval := time.Duration(float64(time.Second) / cfg.e2eRate)
	deadline, txnEnd := start.Add(cfg.duration), start.Add(cfg.commitInterval)
	padding := make([]byte, cfg.recordSize)
	rand.Read(padding)
	if err := p.begin(); err != nil {
		return err
	}
	for i := int64(0); ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(deadline) {
			break
		}
		if !due.Before(txnEnd) {
			if err := p.commit(ctx); err != nil || ctx.Err() != nil {
				return unlessInterrupted(ctx, err)
			}
			if err := p.begin(); err != nil {
				return err
			}
			for !due.Before(txnEnd) {
				txnEnd = txnEnd.Add(cfg.commitInterval)
			}
		}
		if wait := time.Until(due); wait > 0 {
			sleep(ctx, wait)
		}
		p.cl.Produce(ctx, &kgo.Record{Value: stamped(padding, due), Timestamp: due}, p.promise)
	}
	return unlessInterrupted(ctx, p.commit(ctx))
}

// stamped returns a copy of padding with t at its start.
func stamped(padding []byte, t time.Time) []byte {
	v := make([]byte, len(padding))
	copy(v, padding)
	binary.BigEndian.PutUint64(v, uint64(t.UnixNano()))
	return v
}

// endOffsets returns the high watermark of every partition of topic.
func endOffsets(ctx context.Context, conn client.Conn, topic string) (map[int32]kgo.Offset, error) {
	cl, err := conn.NewClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	from := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition] = kgo.NewOffset().At(o.Offset) })
	return from, nil
}
