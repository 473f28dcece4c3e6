package bench

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// run produces until the deadline, then flushes and closes the client.
//
// Each record carries the time its latency is measured from in its
// Timestamp, which its promise reads back: unpaced, the moment Produce was
// called; paced, the moment the schedule says it should have been sent. A
// stalled broker then shows up in the latency of every record it held back
// instead of silently slowing the sender (coordinated omission).
func (p *producer) run(ctx context.Context, value []byte, start time.Time, cfg produceConfig) {
	defer p.cl.Close()
	deadline := start.Add(cfg.duration)
	if cfg.rate > 0 {
		p.paced(ctx, value, start, deadline, cfg.rate/float64(cfg.producers))
	} else {
		p.unpaced(ctx, value, deadline)
	}
	p.cl.Flush(context.WithoutCancel(ctx)) // bounded by deliveryTimeout
}

func (p *producer) unpaced(ctx context.Context, value []byte, deadline time.Time) {
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			return
		}
		p.cl.Produce(ctx, &kgo.Record{Value: value, Timestamp: now}, p.promise)
	}
}

// paced sends record i at start + i/rate. It sleeps only when ahead of the
// schedule; when behind (the broker or the buffer held it up) it sends the
// overdue records at once, each still timed from its scheduled moment.
func (p *producer) paced(ctx context.Context, value []byte, start, deadline time.Time, rate float64) {
	interval := time.Duration(float64(time.Second) / rate)
	for i := int64(0); ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(deadline) {
			return
		}
		if wait := time.Until(due); wait > 0 {
			sleep(ctx, wait)
		}
		p.cl.Produce(ctx, &kgo.Record{Value: value, Timestamp: due}, p.promise)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *producer) promise(r *kgo.Record, err error) {
	took := time.Since(r.Timestamp)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.mu.errors++
		return
	}
	p.mu.hist.record(took)
	p.mu.bytes += int64(len(r.Key) + len(r.Value))
}

// produceSummary merges what every producer measured over elapsed.
func produceSummary(name string, ps []*producer, elapsed time.Duration, rate float64) produceResult {
	var all histogram
	r := produceResult{Bench: "produce", Target: name, Seconds: elapsed.Seconds(), Rate: rate}
	for _, p := range ps {
		p.mu.Lock()
		all.merge(&p.mu.hist)
		r.Errors += p.mu.errors
		r.Bytes += p.mu.bytes
		p.mu.Unlock()
		r.Requests += p.requests.n.Load()
	}
	r.Records = int64(all.total)
	r.RecordsPerSec = perSec(float64(r.Records), elapsed)
	r.MBPerSec = perSec(float64(r.Bytes)/megabyte, elapsed)
	r.P50Ms, r.P99Ms, r.P999Ms = ms(all.quantile(0.50)), ms(all.quantile(0.99)), ms(all.quantile(0.999))
	r.MaxMs = ms(time.Duration(all.max))
	r.RecordsPerRequest = ratio(float64(r.Records), float64(r.Requests))
	return r
}
