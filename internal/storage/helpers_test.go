package storage

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// fakeClock is an adjustable clock for retention and segment.ms tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testLogger writes to the test log so failures show what storage said.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func openManager(t testing.TB, dir string, clock *fakeClock) *Manager {
	t.Helper()
	cfg := Config{Dir: dir, Logger: testLogger(t), RetentionCheckInterval: time.Hour}
	if clock != nil {
		cfg.Now = clock.now
	}
	m, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func smallConfig() LogConfig {
	lc := DefaultLogConfig()
	lc.SegmentBytes = 4 << 10
	lc.IndexIntervalBytes = 512
	lc.FileDeleteDelayMs = 0
	lc.SegmentMs = math.MaxInt64 // test timestamps are from 1970
	return lc
}

func createLog(t testing.TB, m *Manager, lc LogConfig) *Log {
	t.Helper()
	l, err := m.CreateLog("t", 0, lc)
	if err != nil {
		t.Fatalf("CreateLog: %v", err)
	}
	return l
}

// batchAt builds a batch of n records whose values encode its index i.
func batchAt(i, n int, ts int64) []byte {
	recs := recordtest.Values(n, 20)
	for j := range recs {
		recs[j].Value = append([]byte{byte(i), byte(j)}, recs[j].Value...)
	}
	return recordtest.Batch(recordtest.Options{BaseTimestamp: ts}, recs)
}

func mustAppend(t testing.TB, l *Log, b []byte, sync bool) AppendResult {
	t.Helper()
	res, err := l.Append(context.Background(), b, AppendOptions{Sync: sync})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readBatches reads from offset to the high watermark and returns every
// batch, checking that each is valid and that chunks hold whole batches.
func readBatches(t testing.TB, l *Log, offset int64) []record.BatchHeader {
	t.Helper()
	var out []record.BatchHeader
	for {
		res, err := l.Read(offset, 1<<20, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		if len(res.Chunks) == 0 {
			return out
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for len(b) > 0 {
				h, err := record.ParseHeader(b)
				if err != nil || h.Size() > len(b) {
					t.Fatalf("chunk does not hold whole batches: %v", err)
				}
				if _, err := record.Validate(b[:h.Size()]); err != nil {
					t.Fatalf("read invalid batch: %v", err)
				}
				out = append(out, h)
				offset = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func parseBatch(b []byte) (record.BatchHeader, error) { return record.Validate(b) }

// crash abandons a manager as a killed process would: background work stops
// and files close, but no flush, checkpoint or snapshot is written.
func crash(t testing.TB, m *Manager) {
	t.Helper()
	m.cancel()
	m.wg.Wait()
	for _, l := range m.logs() {
		l.q.Lock()
		l.q.closed = ErrClosed
		l.q.Unlock()
		l.wake()
		l.writers.Wait()
		l.closeFiles()
	}
}
