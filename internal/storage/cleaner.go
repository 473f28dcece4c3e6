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
	disabled bool // CleanerThreads < 0 at Open: no threads, ever

	mu struct {
		sync.Mutex
		busy    map[*Log]bool // logs being cleaned
		stats   CleanerStats
		threads int           // wanted
		running int           // started and not retired
		backoff time.Duration // idle sleep
		maxKeys int           // offset map budget per thread
	}
}

// CleanerSettings are the log cleaner settings that may change while the
// Manager runs, as Kafka's dynamic log.cleaner.* configs do (Config has
// their meaning).
type CleanerSettings struct {
	Threads          int
	Backoff          time.Duration
	IOBytesPerSecond float64
	DedupeBufferSize int64
}

func newCleaner(m *Manager) *cleaner {
	c := &cleaner{m: m, wake: make(chan struct{}, 1), throttle: newThrottle(m.cfg.CleanerIOBytesPerSecond),
		disabled: m.cfg.CleanerThreads < 0}
	c.mu.busy = map[*Log]bool{}
	c.setLocked(CleanerSettings{Threads: m.cfg.CleanerThreads, Backoff: m.cfg.CleanerBackoff,
		DedupeBufferSize: m.cfg.CleanerDedupeBufferSize})
	return c
}

// setLocked takes new thread count, backoff and key budget; the caller
// holds c.mu (or owns c).
func (c *cleaner) setLocked(s CleanerSettings) {
	threads := max(s.Threads, 1)
	c.mu.threads, c.mu.backoff = threads, s.Backoff
	if c.mu.backoff <= 0 {
		c.mu.backoff = DefaultCleanerBackoff
	}
	if s.DedupeBufferSize <= 0 {
		s.DedupeBufferSize = DefaultCleanerDedupeBufferSize
	}
	c.mu.maxKeys = int(max(s.DedupeBufferSize/int64(threads)/offsetMapEntryBytes, 1024))
}

// start launches the threads; Manager.Close waits for them via m.wg.
func (c *cleaner) start() {
	if c.disabled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spawnLocked()
}

// spawnLocked starts threads until as many run as are wanted.
func (c *cleaner) spawnLocked() {
	for ; c.mu.running < c.mu.threads; c.mu.running++ {
		c.m.wg.Add(1)
		go c.run(c.m.ctx)
	}
}

// SetCleanerSettings changes the log cleaner while it runs: threads are
// started at once or retire when next idle, and later cleanings use the
// new backoff, I/O rate and offset map budget. A cleaner disabled at Open
// (CleanerThreads < 0) stays disabled. Call it before Close.
func (m *Manager) SetCleanerSettings(s CleanerSettings) {
	c := m.cleaner
	if c == nil || c.disabled {
		return
	}
	c.throttle.setRate(s.IOBytesPerSecond)
	c.mu.Lock()
	c.setLocked(s)
	c.spawnLocked()
	c.mu.Unlock()
	c.kick()
}

// retire ends the calling thread if more run than are wanted.
func (c *cleaner) retire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.running > c.mu.threads {
		c.mu.running--
		return true
	}
	return false
}

func (c *cleaner) backoff() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.backoff
}

// maxKeys is the offset map budget of one cleaning.
func (c *cleaner) maxKeys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.maxKeys
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
	for ctx.Err() == nil && !c.retire() {
		if c.cleanOne(ctx) {
			continue
		}
		t := time.NewTimer(c.backoff())
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
	mu   sync.Mutex
	rate float64 // bytes per second; <= 0 is unlimited
	next time.Time
	// waited counts time spent sleeping, for tests and logs.
	waited atomic.Int64
}

func newThrottle(rate float64) *throttle { return &throttle{rate: rate} }

func (t *throttle) setRate(rate float64) {
	t.mu.Lock()
	t.rate = rate
	t.mu.Unlock()
}

func (t *throttle) wait(ctx context.Context, n int) error {
	t.mu.Lock()
	if t.rate <= 0 || math.IsInf(t.rate, 1) {
		t.mu.Unlock()
		return ctx.Err()
	}
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
