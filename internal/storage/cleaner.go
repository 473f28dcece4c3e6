package storage

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the log cleaner (Kafka's log.cleaner.* settings).
const (
	DefaultCleanerThreads          = 1
	DefaultCleanerBackoff          = 15 * time.Second
	DefaultCleanerDedupeBufferSize = 128 << 20
)

// offsetMapEntryBytes estimates the memory of one key in the offset map
// (a 16-byte hash, an 8-byte offset and Go's map overhead); it turns the
// dedupe buffer size into a key budget.
const offsetMapEntryBytes = 48

// CleanerStats are cumulative counters of the log cleaner since Open.
type CleanerStats struct {
	Runs           int64 // cleanings that swapped segments in
	BytesRead      int64
	BytesWritten   int64
	RecordsKept    int64
	RecordsRemoved int64
	Duration       time.Duration // time spent cleaning
}

// cleaner is the Manager's pool of cleaner goroutines. Each thread takes
// the dirtiest eligible log, cleans it, and sleeps for the backoff when no
// log qualifies; a compacted log that rolls a segment wakes one thread.
type cleaner struct {
	m        *Manager
	wake     chan struct{} // capacity 1
	throttle *throttle
	maxKeys  int // per thread

	mu struct {
		sync.Mutex
		busy  map[*Log]bool // logs being cleaned
		stats CleanerStats
	}
}

func newCleaner(m *Manager) *cleaner {
	c := &cleaner{m: m, wake: make(chan struct{}, 1), throttle: newThrottle(m.cfg.CleanerIOBytesPerSecond)}
	threads := max(m.cfg.CleanerThreads, 1)
	c.maxKeys = int(max(m.cfg.CleanerDedupeBufferSize/int64(threads)/offsetMapEntryBytes, 1024))
	c.mu.busy = map[*Log]bool{}
	return c
}

// start launches the threads; Manager.Close waits for them via m.wg.
func (c *cleaner) start() {
	for range c.m.cfg.CleanerThreads {
		c.m.wg.Add(1)
		go c.run(c.m.ctx)
	}
}

// kick wakes an idle cleaner thread without blocking.
func (c *cleaner) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *cleaner) run(ctx context.Context) {
	defer c.m.wg.Done()
	for ctx.Err() == nil {
		if c.cleanOne(ctx) {
			continue
		}
		t := time.NewTimer(c.m.cfg.CleanerBackoff)
		select {
		case <-ctx.Done():
		case <-c.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// cleanOne cleans the dirtiest eligible log, if any, and says whether it
// did.
func (c *cleaner) cleanOne(ctx context.Context) bool {
	l, p := c.pick(c.m.now())
	if l == nil {
		return false
	}
	defer c.release(l)
	st, err := l.clean(ctx, c, p)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrLogDeleted) && !errors.Is(err, errCleanAborted) {
			l.logger.Error("log cleaning failed; log marked uncleanable until restart", "err", err)
			l.uncleanable.Store(true)
		}
		return false
	}
	c.record(st)
	return true
}

// pick chooses the log with the highest dirty ratio among those above
// their min.cleanable.dirty.ratio, preferring logs whose
// max.compaction.lag.ms is exceeded, and marks it busy.
func (c *cleaner) pick(now time.Time) (*Log, cleanPlan) {
	var (
		best  *Log
		bestP cleanPlan
	)
	for _, l := range c.m.logs() {
		if !l.Config().Compact || l.uncleanable.Load() || l.Offline() != nil || c.isBusy(l) {
			continue
		}
		p, ok := l.planClean(now)
		if !ok {
			continue
		}
		if best == nil || p.due && !bestP.due || p.due == bestP.due && p.ratio > bestP.ratio {
			best, bestP = l, p
		}
	}
	if best == nil {
		return nil, cleanPlan{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.busy[best] {
		return nil, cleanPlan{}
	}
	c.mu.busy[best] = true
	return best, bestP
}

func (c *cleaner) isBusy(l *Log) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.busy[l]
}

func (c *cleaner) release(l *Log) {
	c.mu.Lock()
	delete(c.mu.busy, l)
	c.mu.Unlock()
}

func (c *cleaner) record(st cleanStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.mu.stats
	s.Runs++
	s.BytesRead += st.bytesRead
	s.BytesWritten += st.bytesWritten
	s.RecordsKept += st.kept
	s.RecordsRemoved += st.removed
	s.Duration += st.duration
}

// CleanerStats returns the log cleaner's cumulative counters.
func (m *Manager) CleanerStats() CleanerStats {
	if m.cleaner == nil {
		return CleanerStats{}
	}
	m.cleaner.mu.Lock()
	defer m.cleaner.mu.Unlock()
	return m.cleaner.mu.stats
}

// throttle bounds the cleaners' combined I/O rate: each call reserves n
// bytes of the budget and sleeps until the reservation is due.
type throttle struct {
	rate float64 // bytes per second; <= 0 is unlimited
	mu   sync.Mutex
	next time.Time
	// waited counts time spent sleeping, for tests and logs.
	waited atomic.Int64
}

func newThrottle(rate float64) *throttle { return &throttle{rate: rate} }

func (t *throttle) wait(ctx context.Context, n int) error {
	if t.rate <= 0 || math.IsInf(t.rate, 1) {
		return ctx.Err()
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	t.next = t.next.Add(time.Duration(float64(n) / t.rate * float64(time.Second)))
	d := t.next.Sub(now)
	t.mu.Unlock()
	if d < time.Millisecond {
		return ctx.Err()
	}
	t.waited.Add(int64(d))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
