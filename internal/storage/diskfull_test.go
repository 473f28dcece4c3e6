package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// TestDiskFullRecovers fails one kind of file operation of an append until
// the fault is cleared, then checks which failures the log recovers from
// without a reopen: ENOSPC while writing or creating a segment (nothing was
// acknowledged, the files are cut back) recovers once DiskFullBackoff has
// passed and the disk has room again; a failed fsync, EIO, or ENOSPC whose
// cleanup failed stay sticky until the log is reopened.
func TestDiskFullRecovers(t *testing.T) {
	tests := []struct {
		name     string
		rules    func(dir string) []faultRule
		batches  int // in the failing append; 6 cross a segment boundary
		recovers bool
	}{
		{"ENOSPC on data write", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, fault: fault{err: syscall.ENOSPC, torn: 300}}}
		}, 1, true},
		{"ENOSPC on index write", func(dir string) []faultRule {
			return []faultRule{{op: opIndexWrite, path: dir, fault: fault{err: syscall.ENOSPC, torn: 5}}}
		}, 3, true},
		{"ENOSPC creating the rolled segment", func(dir string) []faultRule {
			return []faultRule{{op: opOpen, path: dir, fault: fault{err: syscall.ENOSPC}}}
		}, 6, true},
		{"ENOSPC writing the rolled segment", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, skip: 1, fault: fault{err: syscall.ENOSPC, torn: 100}}}
		}, 6, true},
		{"EIO on data write", func(dir string) []faultRule {
			return []faultRule{{op: opWrite, path: dir, fault: fault{err: syscall.EIO}}}
		}, 1, false},
		{"EIO on fsync", func(dir string) []faultRule {
			return []faultRule{{op: opSync, path: dir, fault: fault{err: syscall.EIO}}}
		}, 1, false},
		{"ENOSPC on fsync", func(dir string) []faultRule {
			return []faultRule{{op: opSync, path: dir, fault: fault{err: syscall.ENOSPC}}}
		}, 1, false},
		{"ENOSPC on data write, cleanup truncate fails", func(dir string) []faultRule {
			return []faultRule{
				{op: opWrite, path: dir, fault: fault{err: syscall.ENOSPC, torn: 300}},
				{op: opTruncate, path: dir, n: 1, fault: fault{err: syscall.EIO}},
			}
		}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
			dir := t.TempDir()
			m := openManager(t, dir, clock)
			l := createLog(t, m, smallConfig())
			var acked []int64
			for seq := range int32(4) {
				mustAppend(t, l, idem(seq), seq != 3) // the last is acknowledged unsynced
				acked = append(acked, 1000+int64(seq))
			}
			end := l.LogEndOffset()
			var failing []byte
			for i := range tt.batches {
				failing = append(failing, idem(4+int32(i))...)
				acked = append(acked, 1004+int64(i))
			}

			rules := tt.rules(l.dir + string(filepath.Separator))
			clear := injectFaults(t, rules...)
			_, err := l.Append(context.Background(), failing, AppendOptions{Sync: true})
			if !errors.Is(err, ErrStorage) || !errors.Is(err, rules[0].err) {
				t.Fatalf("failing append: %v, want ErrStorage and %v", err, rules[0].err)
			}
			if _, err2 := l.Append(context.Background(), failing, AppendOptions{}); err2 != err {
				t.Fatalf("append within the backoff: %v, want the same error %v", err2, err)
			}
			clock.advance(DiskFullBackoff)
			if _, err := l.Append(context.Background(), failing, AppendOptions{Sync: true}); !errors.Is(err, rules[0].err) {
				t.Fatalf("retry while the fault lasts: %v, want %v", err, rules[0].err)
			}
			clear()
			clock.advance(DiskFullBackoff)
			res, err := l.Append(context.Background(), failing, AppendOptions{Sync: true})
			if !tt.recovers {
				if !errors.Is(err, ErrStorage) {
					t.Fatalf("append after the fault cleared: %v, want the sticky ErrStorage", err)
				}
				return
			}
			if err != nil || res.Duplicate || res.BaseOffset != end {
				t.Fatalf("append after the fault cleared: %+v, %v; want a new append at %d", res, err, end)
			}
			mustAppend(t, l, idem(4+int32(tt.batches)), true)
			acked = append(acked, 1004+int64(tt.batches))
			if got := timestamps(t, l); !slices.Equal(got, acked) {
				t.Fatalf("read %v, want %v", got, acked)
			}
			crash(t, m) // recovery must find exactly what was acknowledged
			m = openManager(t, dir, clock)
			defer m.Close()
			l = m.Log("t", 0)
			if got := timestamps(t, l); !slices.Equal(got, acked) {
				t.Fatalf("read %v after reopen, want %v", got, acked)
			}
		})
	}
}

// TestDeleteRecordsCheckpointFault fails the checkpoint write of a
// DeleteRecords: the error is a disk error and nothing changed, neither
// the log start nor the segments, in memory or after a crash. Once the
// disk has room the same call succeeds and frees every segment below the
// new start, the active one included when everything goes.
func TestDeleteRecordsCheckpointFault(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 100 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	segs, size := len(l.mu.segments), l.Size()
	clear := injectFaults(t, faultRule{op: opCheckpoint, path: l.dir, fault: fault{err: syscall.ENOSPC}})
	got, err := l.DeleteRecordsBefore(context.Background(), 150)
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) || got != 0 {
		t.Fatalf("DeleteRecordsBefore = %d, %v; want 0 and a disk error", got, err)
	}
	if l.LogStartOffset() != 0 || len(l.mu.segments) != segs || l.Size() != size {
		t.Fatalf("failed DeleteRecords changed the log: start %d, %d segments of %d bytes", l.LogStartOffset(), len(l.mu.segments), l.Size())
	}
	if n := len(readBatches(t, l, 0)); n != 100 {
		t.Fatalf("read %d batches after the failed DeleteRecords, want 100", n)
	}
	clear()
	crash(t, m)
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	if l.LogStartOffset() != 0 || l.Size() != size {
		t.Fatalf("after reopen: start %d, %d bytes; want 0 and %d", l.LogStartOffset(), l.Size(), size)
	}

	if got, err := l.DeleteRecordsBefore(context.Background(), -1); err != nil || got != 200 {
		t.Fatalf("DeleteRecordsBefore(-1) = %d, %v; want 200", got, err)
	}
	if l.Size() != 0 || len(l.mu.segments) != 1 {
		t.Fatalf("after deleting everything: %d bytes in %d segments", l.Size(), len(l.mu.segments))
	}
	if res := mustAppend(t, l, batchAt(0, 1, 0), true); res.BaseOffset != 200 {
		t.Fatalf("append after DeleteRecords at %d, want 200", res.BaseOffset)
	}
}

// TestDeleteRecordsUsesReserve runs DeleteRecords on a disk that is full
// until the reserve gives space back: its checkpoint write succeeds on the
// released space and the segments below the new start are deleted.
func TestDeleteRecordsUsesReserve(t *testing.T) {
	dir := t.TempDir()
	reservePath := filepath.Join(dir, "reserve")
	reserve := atomicfile.OpenReserve(reservePath, 4<<10, 1<<10, testLogger(t))
	m, err := Open(context.Background(), Config{Dir: filepath.Join(dir, "logs"), Logger: testLogger(t), RetentionCheckInterval: time.Hour, Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l := createLog(t, m, smallConfig())
	for i := range 100 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	segs := len(l.mu.segments)
	f := faultFunc(func(op fileOp, path string) fault {
		if fi, err := os.Stat(reservePath); op == opCheckpoint && (err != nil || fi.Size() == 4<<10) {
			return fault{err: syscall.ENOSPC}
		}
		return fault{}
	})
	faults.Store(&f)
	t.Cleanup(func() { faults.CompareAndSwap(&f, nil) })
	if got, err := l.DeleteRecordsBefore(context.Background(), 150); err != nil || got != 150 {
		t.Fatalf("DeleteRecordsBefore on a full disk = %d, %v; want 150", got, err)
	}
	if len(l.mu.segments) >= segs || reserve.Held() != 3<<10 {
		t.Fatalf("%d of %d segments left, reserve holds %d bytes", len(l.mu.segments), segs, reserve.Held())
	}
}

// TestDiskFullConcurrent runs idempotent producers that retry each batch
// until it is acknowledged, as clients do, while the disk fills up in the
// middle of their group commits and is then freed. Every batch must end up
// in the log exactly once, in sequence order per producer, before and
// after a crash: failed groups leave no bytes and no producer state.
func TestDiskFullConcurrent(t *testing.T) {
	const writers, perWriter = 8, 30
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	dir := t.TempDir()
	m := openManager(t, dir, clock)
	l := createLog(t, m, smallConfig())
	clear := injectFaults(t, faultRule{op: opWrite, path: l.dir, skip: 20, fault: fault{err: syscall.ENOSPC, torn: 100}})
	var failures, afterFreed atomic.Int64
	var freed atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for seq := int32(0); seq < perWriter; {
				b := tsBatch(int64(w*perWriter)+int64(seq), 1, &recordtest.Producer{ID: int64(w + 1), Sequence: seq})
				_, err := l.Append(context.Background(), b, AppendOptions{Sync: seq%2 == 0})
				switch {
				case err == nil:
					seq++
				case !errors.Is(err, syscall.ENOSPC):
					t.Errorf("producer %d seq %d: %v", w+1, seq, err)
					return
				case freed.Load() && afterFreed.Add(1) > 100_000:
					t.Errorf("producer %d seq %d: still failing after the disk was freed: %v", w+1, seq, err)
					return
				default:
					failures.Add(1)
					runtime.Gosched() // retry, as a producer does
				}
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for failures.Load() == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if failures.Load() == 0 {
		t.Fatal("the disk never filled")
	}
	clear()
	freed.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			clock.advance(DiskFullBackoff) // a group failing as the fault cleared backs off again
			runtime.Gosched()
		}
	}
	check := func(l *Log) {
		t.Helper()
		next := map[int64]int32{}
		hs := readBatches(t, l, 0)
		for _, h := range hs {
			if h.BaseSequence != next[h.ProducerID] {
				t.Fatalf("producer %d: sequence %d at offset %d, want %d", h.ProducerID, h.BaseSequence, h.BaseOffset, next[h.ProducerID])
			}
			next[h.ProducerID]++
		}
		if len(hs) != writers*perWriter {
			t.Fatalf("log holds %d batches, want %d", len(hs), writers*perWriter)
		}
	}
	check(l)
	crash(t, m)
	m = openManager(t, dir, clock)
	defer m.Close()
	check(m.Log("t", 0))
}

// TestCheckpointOnFullDisk fails the creation of checkpoint.tmp with
// ENOSPC: the checkpoint is overwritten in place instead, so DeleteRecords
// and opening a log (which must clear the clean-shutdown flag) still work
// on a full disk with no reserve.
func TestCheckpointOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 100 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	full := faultRule{op: opCheckpoint, path: l.dir, n: 1, fault: fault{err: syscall.ENOSPC}}
	injectFaults(t, full)
	if got, err := l.DeleteRecordsBefore(context.Background(), 150); err != nil || got != 150 {
		t.Fatalf("DeleteRecordsBefore on a full disk = %d, %v; want 150", got, err)
	}
	if cp, err := readCheckpoint(l.dir); err != nil || cp.logStart != 150 {
		t.Fatalf("checkpoint %+v, %v; want log start 150", cp, err)
	}
	must(t, m.Close()) // a clean shutdown: the checkpoint says clean

	// Opening a cleanly closed log writes nothing; its first append marks
	// the checkpoint unclean, which on a full disk overwrites it in place.
	injectFaults(t, full)
	m = openManager(t, dir, nil)
	mustAppend(t, m.Log("t", 0), batchAt(200, 1, 0), true)
	cp, err := readCheckpoint(filepath.Join(dir, "t-0"))
	if err != nil || cp.clean || cp.logStart != 150 {
		t.Fatalf("checkpoint after the first append on a full disk %+v, %v; want log start 150, not clean", cp, err)
	}
	crash(t, m)
	m = openManager(t, dir, nil)
	defer m.Close()
	if got := m.Log("t", 0).LogStartOffset(); got != 150 {
		t.Fatalf("log start %d after a crash, want 150", got)
	}
}
