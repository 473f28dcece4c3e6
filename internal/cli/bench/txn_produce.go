package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// txnProducer is a transactional client and what it measured. Its records
// count toward throughput once their transaction has committed.
type txnProducer struct {
	producer
	commits histogram // flush + EndTxn, per transaction
	// committedRecords and committedBytes are the acknowledged totals at
	// the last successful commit. Only the goroutine running transactions
	// touches them.
	committedRecords, committedBytes int64
}

// newTxnProducer builds a transactional client with the produce workload's
// options. Its transactional ID is fresh, so runs against the same broker
// (even at the same time) never fence each other.
func newTxnProducer(conn client.Conn, cfg produceConfig, phase string) (*txnProducer, error) {
	opts, err := producerOpts(conn, cfg)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("eddy-bench-%s-%s", phase, rand.Text()[:8])
	p := &txnProducer{}
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID(id), kgo.WithHooks(&p.requests))...)
	if err != nil {
		return nil, fmt.Errorf("creating transactional producer: %w", err)
	}
	p.cl = cl
	return p, nil
}

// warmUp commits one untimed transaction of one record, so the producer
// ID, the coordinator and the partition leaders are known before the clock
// starts.
func (p *txnProducer) warmUp(ctx context.Context, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	if err := p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("first transaction: %w", err)
	}
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		_ = p.cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort) // the produce error is the news
		return fmt.Errorf("first transactional record: %w", err)
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("first commit: %w", err)
	}
	p.requests.n.Store(0) // count the timed requests only
	return nil
}

// begin starts a transaction.
func (p *txnProducer) begin() error {
	if err := p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	return nil
}

// commit flushes the transaction's records and commits it; on failure it
// aborts the transaction and returns why the commit failed.
func (p *txnProducer) commit(ctx context.Context) error {
	// Not cancellable: a cancelled EndTxn leaves its outcome unknown.
	// Both calls are bounded by the client's timeouts.
	ctx = context.WithoutCancel(ctx)
	start := time.Now()
	p.cl.Flush(ctx)
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		abortErr := p.cl.EndTransaction(ctx, kgo.TryAbort)
		return errors.Join(fmt.Errorf("committing a transaction: %w", err), abortErr)
	}
	p.commits.record(time.Since(start))
	p.mu.Lock()
	p.committedRecords, p.committedBytes = int64(p.mu.hist.total), p.mu.bytes
	p.mu.Unlock()
	return nil
}

// runTxnProduce is phase 1 of bench txn: one transactional producer sends
// as fast as it can for cfg.duration, committing every cfg.commitInterval.
func runTxnProduce(ctx context.Context, tgt target, cfg txnConfig) (txnProduced, error) {
	p, err := newTxnProducer(tgt.conn, cfg.produceConfig, "txn")
	if err != nil {
		return txnProduced{}, err
	}
	defer p.cl.Close()
	value := make([]byte, cfg.recordSize)
	rand.Read(value) // incompressible, as in bench produce
	if err := p.warmUp(ctx, value); err != nil {
		return txnProduced{}, err
	}
	start := time.Now()
	if err := p.unpaced(ctx, value, start.Add(cfg.duration), cfg.commitInterval); err != nil {
		return txnProduced{}, err
	}
	return p.summary(tgt.name, time.Since(start)), nil
}

// unpaced runs transactions of commitInterval until the deadline. Ctrl-C
// ends the run early without an error: the transaction it cuts short is
// aborted and the committed ones are reported.
func (p *txnProducer) unpaced(ctx context.Context, value []byte, deadline time.Time, commitInterval time.Duration) error {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if err := p.begin(); err != nil {
			return err
		}
		end := time.Now().Add(commitInterval)
		if end.After(deadline) {
			end = deadline
		}
		for ctx.Err() == nil {
			now := time.Now()
			if !now.Before(end) {
				break
			}
			p.cl.Produce(ctx, &kgo.Record{Value: value, Timestamp: now}, p.promise)
		}
		if err := p.commit(ctx); err != nil {
			return unlessInterrupted(ctx, err)
		}
	}
	return nil
}

// unlessInterrupted drops err once ctx has ended: Ctrl-C fails the
// transaction it cuts short, and the run reports the committed ones.
func unlessInterrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// summary is the produce summary over committed records, with the commits'
// latency.
func (p *txnProducer) summary(name string, elapsed time.Duration) txnProduced {
	r := txnProduced{produceResult: produceSummary(name, []*producer{&p.producer}, elapsed, 0)}
	r.Bench = "txn"
	r.Records, r.Bytes = p.committedRecords, p.committedBytes
	r.RecordsPerRequest = ratio(float64(r.Records), float64(r.Requests))
	r.RecordsPerSec = perSec(float64(r.Records), elapsed)
	r.MBPerSec = perSec(float64(r.Bytes)/megabyte, elapsed)
	r.Commits = int64(p.commits.total)
	r.CommitP50Ms, r.CommitP99Ms = ms(p.commits.quantile(0.50)), ms(p.commits.quantile(0.99))
	r.CommitMaxMs = ms(time.Duration(p.commits.max))
	return r
}
