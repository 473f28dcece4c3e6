package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// faultRule fails calls of op on paths containing path: the first skip
// matching calls succeed, then the next n fail (every later one if n is 0).
type faultRule struct {
	op   fileOp
	path string
	skip int
	n    int
	fault
}

// injectFaults installs rules until the returned func or the test's end
// removes them.
func injectFaults(t testing.TB, rules ...faultRule) (clear func()) {
	var mu sync.Mutex
	seen := make([]int, len(rules))
	f := faultFunc(func(op fileOp, path string) fault {
		mu.Lock()
		defer mu.Unlock()
		for i, r := range rules {
			if r.op != op || !strings.Contains(path, r.path) {
				continue
			}
			seen[i]++
			if seen[i] > r.skip && (r.n == 0 || seen[i] <= r.skip+r.n) {
				return r.fault
			}
		}
		return fault{}
	})
	faults.Store(&f)
	clear = func() { faults.CompareAndSwap(&f, nil) }
	t.Cleanup(clear)
	return clear
}

// tsBatch is a batch of n 100-byte records whose BaseTimestamp ts names it.
func tsBatch(ts int64, n int, p *recordtest.Producer) []byte {
	return recordtest.Batch(recordtest.Options{BaseTimestamp: ts, Producer: p}, recordtest.Values(n, 100))
}

// idem is batch seq of producer 1: 4 records, named by timestamp 1000+seq.
func idem(seq int32) []byte {
	return tsBatch(1000+int64(seq), 4, &recordtest.Producer{ID: 1, Sequence: seq * 4})
}

// timestamps reads the whole log and names its batches.
func timestamps(t testing.TB, l *Log) []int64 {
	t.Helper()
	var ts []int64
	for _, h := range readBatches(t, l, l.LogStartOffset()) {
		ts = append(ts, h.BaseTimestamp)
	}
	return ts
}

// diskSize sums the sizes of the log's segment files.
func diskSize(t testing.TB, l *Log) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.dir, "*"+logExt))
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestAppendFault fails one file operation of an append and checks rule 9
// of the house style: the append fails with ErrStorage, the failure is
// sticky for that log only, readers never see the failed bytes, and a
// reopen recovers everything acknowledged.
func TestAppendFault(t *testing.T) {
	tests := []struct {
		name    string
		rules   func(dir string) []faultRule
		batches int  // in the failing append; 6 cross a segment boundary
		torn    bool // failed bytes stay on disk until recovery
	}{
		{"data write", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, fault: fault{err: syscall.EIO}}}
		}, 1, false},
		{"torn data write, cleanup truncate fails", func(dir string) []faultRule {
			return []faultRule{
				{op: opWrite, path: dir, fault: fault{err: syscall.ENOSPC, torn: 300}},
				{op: opTruncate, path: dir, fault: fault{err: syscall.EIO}},
			}
		}, 1, true},
		{"fsync", func(dir string) []faultRule {
			return []faultRule{{op: opSync, path: dir, fault: fault{err: syscall.EIO}}}
		}, 1, false},
		{"index write", func(dir string) []faultRule {
			return []faultRule{{op: opIndexWrite, path: dir, fault: fault{err: syscall.EIO, torn: 5}}}
		}, 3, false},
		{"roll: new segment's index not created", func(dir string) []faultRule {
			return []faultRule{{op: opOpen, path: dir, skip: 1, fault: fault{err: syscall.EMFILE}}}
		}, 6, false},
		{"write to the rolled segment", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, skip: 1, fault: fault{err: syscall.EIO}}}
		}, 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openManager(t, dir, nil)
			l, other := createLog(t, m, smallConfig()), createNamedLog(t, m, "u")
			var acked []int64
			for seq := range int32(4) {
				mustAppend(t, l, idem(seq), seq != 3) // the last is acknowledged unsynced
				acked = append(acked, 1000+int64(seq))
			}
			end, size := l.LogEndOffset(), l.Size()

			rules := tt.rules(l.dir + string(filepath.Separator))
			clear := injectFaults(t, rules...)
			var failing []byte
			for i := range tt.batches {
				failing = append(failing, idem(4+int32(i))...)
			}
			_, err := l.Append(context.Background(), failing, AppendOptions{Sync: true})
			if !errors.Is(err, ErrStorage) || !errors.Is(err, rules[0].err) {
				t.Fatalf("failing append: %v, want ErrStorage and %v", err, rules[0].err)
			}
			if _, err2 := l.Append(context.Background(), idem(4), AppendOptions{}); err2 != err {
				t.Fatalf("append after failure: %v, want the same error %v", err2, err)
			}
			if got := l.HighWatermark(); got != end {
				t.Fatalf("high watermark %d after failure, want %d", got, end)
			}
			if got := timestamps(t, l); !slices.Equal(got, acked) {
				t.Fatalf("read %v after failure, want %v", got, acked)
			}
			if got := diskSize(t, l); tt.torn != (got > size) || got < size {
				t.Fatalf("segment files hold %d bytes, %d published (torn bytes expected: %v)", got, size, tt.torn)
			}
			mustAppend(t, other, idem(0), true)
			clear()
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			m = openManager(t, dir, nil)
			defer m.Close()
			l = createLog(t, m, smallConfig())
			if got := l.LogEndOffset(); got != end {
				t.Fatalf("log end %d after reopen, want %d", got, end)
			}
			if got := diskSize(t, l); got != size {
				t.Fatalf("segment files hold %d bytes after recovery, want %d", got, size)
			}
			if got := timestamps(t, l); !slices.Equal(got, acked) {
				t.Fatalf("read %v after reopen, want %v", got, acked)
			}
			if res := mustAppend(t, l, failing, true); res.Duplicate || res.BaseOffset != end {
				t.Fatalf("retry after reopen: %+v, want a new append at %d", res, end)
			}
		})
	}
}

func createNamedLog(t testing.TB, m *Manager, topic string) *Log {
	t.Helper()
	l, err := m.CreateLog(topic, 0, smallConfig())
	if err != nil {
		t.Fatalf("CreateLog: %v", err)
	}
	return l
}

// TestAppendFaultConcurrent hits a fault in the middle of concurrent
// appends: every append that succeeded is read back in offset order before
// and after a reopen, and no failed append's batch is served before it.
// After it, the failed group is gone, unless the cleanup failed too: then
// whole batches of it may survive after the acknowledged ones, as after a
// crash between write and acknowledgement.
func TestAppendFaultConcurrent(t *testing.T) {
	tests := []struct {
		name         string
		rules        func(dir string) []faultRule
		cleanupFails bool
	}{
		{"data write", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, skip: 40, fault: fault{err: syscall.EIO}}}
		}, false},
		{"torn data write, cleanup truncate fails", func(dir string) []faultRule {
			return []faultRule{
				{op: opWrite, path: dir, skip: 40, fault: fault{err: syscall.ENOSPC, torn: 100}},
				{op: opTruncate, path: dir, fault: fault{err: syscall.EIO}},
			}
		}, true},
		{"fsync", func(dir string) []faultRule {
			return []faultRule{{op: opSync, path: dir, skip: 20, fault: fault{err: syscall.EIO}}}
		}, false},
		{"index write", func(dir string) []faultRule {
			return []faultRule{{op: opIndexWrite, path: dir, skip: 20, fault: fault{err: syscall.EIO}}}
		}, false},
	}
	const writers, perWriter = 8, 100
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openManager(t, dir, nil)
			l := createLog(t, m, smallConfig())
			injectFaults(t, tt.rules(l.dir+string(filepath.Separator))...)

			var mu sync.Mutex
			acked := map[int64]int64{} // batch timestamp -> base offset
			stop := make(chan struct{})
			served, readErr := make(chan map[int64]bool, 1), make(chan error, 1)
			go func() {
				seen, err := pollReads(l, stop)
				served <- seen
				readErr <- err
			}()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					failed := false
					for i := range perWriter {
						ts := int64(w*perWriter + i + 1)
						res, err := l.Append(context.Background(), tsBatch(ts, 2, nil), AppendOptions{Sync: i%2 == 0})
						switch {
						case err == nil && failed:
							t.Errorf("append %d succeeded after a failure", ts)
						case err == nil:
							mu.Lock()
							acked[ts] = res.BaseOffset
							mu.Unlock()
						case !errors.Is(err, ErrStorage):
							t.Errorf("append %d: %v, want ErrStorage", ts, err)
						default:
							failed = true
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			seen, err := <-served, <-readErr
			if err != nil {
				t.Fatalf("concurrent read: %v", err)
			}
			for ts := range seen {
				if _, ok := acked[ts]; !ok {
					t.Errorf("reader was served batch %d, whose append failed", ts)
				}
			}
			if len(acked) == 0 || len(acked) == writers*perWriter {
				t.Fatalf("%d of %d appends succeeded: the fault did not hit mid-stream", len(acked), writers*perWriter)
			}
			checkAcked(t, l, acked, false)
			faults.Store(nil)
			must(t, m.Close())

			m = openManager(t, dir, nil)
			defer m.Close()
			l = m.Log("t", 0)
			checkAcked(t, l, acked, tt.cleanupFails)
			mustAppend(t, l, tsBatch(0, 1, nil), true)
		})
	}
}

// pollReads follows the log as a consumer does until stop, returning the
// batches it was served.
func pollReads(l *Log, stop <-chan struct{}) (map[int64]bool, error) {
	seen := map[int64]bool{}
	for off := int64(0); ; {
		changed := l.Changed()
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			return seen, err
		}
		if len(res.Chunks) == 0 {
			select {
			case <-stop:
				return seen, nil
			case <-changed:
			}
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			for err == nil && len(b) > 0 {
				var h record.BatchHeader
				if h, err = record.ParseHeader(b); err == nil && h.Size() > len(b) {
					err = fmt.Errorf("chunk ends inside batch %d", h.BaseTimestamp)
				}
				if err == nil {
					_, err = record.Validate(b[:h.Size()])
				}
				if err != nil {
					break
				}
				seen[h.BaseTimestamp] = true
				off, b = h.LastOffset()+1, b[h.Size():]
			}
			if err != nil {
				return seen, err
			}
		}
	}
}

// checkAcked checks that the log holds the acknowledged batches at their
// offsets, followed by nothing, or with unknownTail by batches of failed
// appends.
func checkAcked(t *testing.T, l *Log, acked map[int64]int64, unknownTail bool) {
	t.Helper()
	hs := readBatches(t, l, 0)
	if len(hs) < len(acked) || len(hs) > len(acked) && !unknownTail {
		t.Fatalf("log holds %d batches, %d acknowledged", len(hs), len(acked))
	}
	for i, h := range hs {
		off, ok := acked[h.BaseTimestamp]
		if i < len(acked) && (!ok || off != h.BaseOffset) || i >= len(acked) && ok {
			t.Fatalf("batch %d at offset %d, acknowledged at %d (%v)", h.BaseTimestamp, h.BaseOffset, off, ok)
		}
	}
	if end := int64(2 * len(hs)); l.HighWatermark() != end {
		t.Fatalf("high watermark %d, want %d", l.HighWatermark(), end)
	}
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMetadataWriteFault fails a checkpoint or producer snapshot write: the
// failure is logged, the log keeps working, and a reopen recovers the data
// and the producer state from the segments and the older files.
func TestMetadataWriteFault(t *testing.T) {
	tests := []struct {
		name    string
		op      fileOp
		file    string
		closing bool // fails at Close rather than at a periodic checkpoint
		wantLog string
	}{
		{"periodic checkpoint", opCheckpoint, checkpointFile, false, "checkpoint failed"},
		{"clean-shutdown checkpoint", opCheckpoint, checkpointFile, true, "clean shutdown failed"},
		{"clean-shutdown producer snapshot", opSnapshot, snapshotFile, true, "clean shutdown failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &syncBuffer{}
			open := func() *Manager {
				h := slog.NewTextHandler(io.MultiWriter(t.Output(), logs), nil)
				m, err := Open(context.Background(), Config{Dir: dir, Logger: slog.New(h), RetentionCheckInterval: time.Hour})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return m
			}
			// A clean cycle first, so older checkpoint and snapshot files exist.
			m := open()
			mustAppend(t, createLog(t, m, smallConfig()), idem(0), true)
			must(t, m.Close())
			m = open()
			l := createLog(t, m, smallConfig())
			mustAppend(t, l, idem(1), true) // synced: the recovery point moves, so the next checkpoint writes

			injectFaults(t, faultRule{op: tt.op, path: filepath.Join(l.dir, tt.file), fault: fault{err: syscall.EIO}})
			if tt.closing {
				if err := m.Close(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("Close: %v, want EIO", err)
				}
			} else {
				m.checkpointAll()
				mustAppend(t, l, idem(2), true)
				crash(t, m)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log output lacks %q", tt.wantLog)
			}
			faults.Store(nil)

			m = open()
			defer m.Close()
			l = m.Log("t", 0)
			want := []int64{1000, 1001, 1002}[:l.LogEndOffset()/4]
			if got := timestamps(t, l); len(want) < 2 || !slices.Equal(got, want) {
				t.Fatalf("read %v after reopen, want %v", got, want)
			}
			last := int32(len(want) - 1)
			if res := mustAppend(t, l, idem(last), true); !res.Duplicate || res.BaseOffset != int64(last)*4 {
				t.Fatalf("retry of the last batch after reopen: %+v, want a duplicate at %d", res, last*4)
			}
			if res := mustAppend(t, l, idem(last+1), true); res.Duplicate {
				t.Fatalf("next batch after reopen: %+v", res)
			}
		})
	}
}

// TestRollRequestFault fails the roll that retention asks for: the request
// is answered once, with the sticky error.
func TestRollRequestFault(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, idem(0), true)
	injectFaults(t, faultRule{op: opOpen, path: l.dir, fault: fault{err: syscall.EMFILE}})
	err := l.requestRoll(context.Background())
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("requestRoll: %v, want ErrStorage and EMFILE", err)
	}
	if _, err2 := l.Append(context.Background(), idem(1), AppendOptions{}); err2 != err {
		t.Fatalf("append after failed roll: %v, want %v", err2, err)
	}
}
