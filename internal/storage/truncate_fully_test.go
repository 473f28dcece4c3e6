package storage

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// prodBatch is batch i of producer 7: two 200-byte records with sequences
// 2i and 2i+1, named by timestamp i.
func prodBatch(i int) []byte {
	p := &recordtest.Producer{ID: 7, Sequence: int32(2 * i)}
	return recordtest.Batch(recordtest.Options{BaseTimestamp: int64(i), Producer: p}, recordtest.Values(2, 200))
}

// fullLog writes the log the TruncateFullyAndStartAt tests start from, in
// dir: 40 batches of producer 7 (offsets 2i and 2i+1) in leader epochs
// i/8, a few per segment, the high watermark at 60 and the cleaner's first
// dirty offset at 70, closed cleanly (so a producer snapshot at 80 is on
// disk) and opened again. It returns the Manager, the log and its bytes.
func fullLog(t *testing.T, dir string) (*Manager, *Log, []byte) {
	t.Helper()
	m := openManagerWith(t, dir, nil, manualHW)
	l := createLog(t, m, smallConfig())
	for i := range 40 {
		if _, err := l.Append(context.Background(), prodBatch(i), AppendOptions{LeaderEpoch: int32(i / 8)}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	l.SetHighWatermark(60)
	must(t, l.setCleanedTo(70, truncations(l)))
	must(t, m.Close())
	m = openManagerWith(t, dir, nil, manualHW)
	l = m.Log("t", 0)
	if n := len(segmentBases(l)); n < 4 {
		t.Fatalf("the log has %d segments; the test needs several", n)
	}
	return m, l, readRaw(t, l, 0)
}

func segmentBases(l *Log) []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var bases []int64
	for _, s := range l.mu.segments {
		bases = append(bases, s.base)
	}
	return bases
}

// checkEmptyAt checks that l is empty at offset: log start, log end and
// high watermark there, no epochs, nothing cleaned above it, one segment
// file on disk, and reads below it out of range.
func checkEmptyAt(t *testing.T, l *Log, offset int64) {
	t.Helper()
	if start, end, hw := l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(); start != offset || end != offset || hw != offset {
		t.Fatalf("log start %d, log end %d, high watermark %d; want all %d", start, end, hw, offset)
	}
	if e, ok := l.LatestEpoch(); ok {
		t.Fatalf("epoch cache not cleared: latest epoch %d", e)
	}
	l.mu.RLock()
	cleanedTo := l.mu.cleanedTo
	l.mu.RUnlock()
	if cleanedTo > offset {
		t.Fatalf("the cleaner's first dirty offset is %d, above the empty log at %d", cleanedTo, offset)
	}
	if got, want := segmentFiles(t, l.dir), []string{segmentName(offset, logExt) + ":0"}; !slices.Equal(got, want) {
		t.Fatalf("segment files %v; want %v", got, want)
	}
	if res, err := l.ReadReplica(offset, 1<<20, true); err != nil || len(res.Chunks) != 0 {
		t.Fatalf("ReadReplica(%d) of the empty log: %d chunks, %v", offset, len(res.Chunks), err)
	}
	if offset == 0 {
		return
	}
	if _, err := l.Read(offset-1, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(%d) below the log start %d: %v", offset-1, offset, err)
	}
	if _, err := l.ReadReplica(0, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("ReadReplica(0) below the log start %d: %v", offset, err)
	}
}

// followerBatches are n batches of 2 records (no producer) from offset in
// leader epoch 5, as a leader would send them.
func followerBatches(offset int64, n int) []byte {
	var out []byte
	for i := range n {
		b := recordtest.Batch(recordtest.Options{BaseTimestamp: 100 + int64(i)}, recordtest.Values(2, 200))
		record.SetBaseOffset(b, offset+2*int64(i))
		record.SetPartitionLeaderEpoch(b, 5)
		out = append(out, b...)
	}
	return out
}

// TruncateFullyAndStartAt leaves an empty log at the offset, whatever the
// log held; follower appends continue there, the producer state starts
// over, and a reopen (clean or after a crash) finds the same log.
func TestTruncateFullyAndStartAt(t *testing.T) {
	for _, tc := range []struct {
		name         string
		deleteBefore int64
		offset       int64
	}{
		{"past the end", 0, 100},
		{"at the end", 0, 80},
		{"inside the log", 0, 30},
		{"at the log start", 0, 0},
		{"below the log start", 20, 10},
	} {
		for _, shutdown := range []string{"clean", "crash"} {
			t.Run(tc.name+"/"+shutdown, func(t *testing.T) {
				testTruncateFully(t, tc.deleteBefore, tc.offset, shutdown == "crash")
			})
		}
	}
}

func testTruncateFully(t *testing.T, deleteBefore, offset int64, crashAfter bool) {
	ctx := context.Background()
	dir := t.TempDir()
	m, l, _ := fullLog(t, dir)
	if deleteBefore > 0 {
		_, err := l.DeleteRecordsBefore(ctx, deleteBefore)
		must(t, err)
	}
	changed := l.Changed()
	must(t, l.TruncateFullyAndStartAt(ctx, offset))
	select {
	case <-changed:
	default:
		t.Fatal("the truncation did not wake long polls")
	}
	checkEmptyAt(t, l, offset)

	fb := followerBatches(offset, 3)
	if res, err := l.AppendAsFollower(ctx, fb, AppendOptions{}); err != nil || res.BaseOffset != offset {
		t.Fatalf("AppendAsFollower at %d: %+v, %v", offset, res, err)
	}
	if got, want := epochsOf(t, l), (epochList{{5, offset}}); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v; want %v", got, want)
	}
	// Producer 7's state went with its batches: sequence 0 starts it
	// again, where the old state would refuse it as out of order.
	res, err := l.Append(ctx, prodBatch(0), AppendOptions{LeaderEpoch: 5})
	if err != nil || res.Duplicate || res.BaseOffset != offset+6 {
		t.Fatalf("producer 7 from sequence 0: %+v, %v; want a new append at %d", res, err, offset+6)
	}
	l.SetHighWatermark(offset + 4)
	want := readRaw(t, l, offset)
	if !bytes.Equal(want[:len(fb)], fb) {
		t.Fatal("the log does not start with the follower's batches")
	}
	wantHW := offset + 4
	if crashAfter {
		wantHW = offset // the truncation's checkpoint; the later one was not written
		crash(t, m)
	} else {
		must(t, m.Close())
	}

	m = openManagerWith(t, dir, nil, manualHW)
	defer m.Close()
	l = m.Log("t", 0)
	if err := l.Offline(); err != nil {
		t.Fatal(err)
	}
	if start, end, hw := l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(); start != offset || end != offset+8 || hw != wantHW {
		t.Fatalf("after reopen: log start %d, end %d, high watermark %d; want %d, %d, %d", start, end, hw, offset, offset+8, wantHW)
	}
	if got := readRaw(t, l, offset); !bytes.Equal(got, want) {
		t.Fatalf("log differs after reopen: %d bytes, want %d", len(got), len(want))
	}
	if got, want := epochsOf(t, l), (epochList{{5, offset}}); !slices.Equal(got, want) {
		t.Fatalf("epoch cache after reopen %v; want %v", got, want)
	}
	if res, err := l.Append(ctx, prodBatch(0), AppendOptions{LeaderEpoch: 5}); err != nil || !res.Duplicate || res.BaseOffset != offset+6 {
		t.Fatalf("retry of producer 7's sequence 0 after reopen: %+v, %v; want a duplicate at %d", res, err, offset+6)
	}
	if offset > 0 {
		if _, err := l.Read(offset-1, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read below the log start after reopen: %v", err)
		}
	}
}

// A crash at any step of TruncateFullyAndStartAt (a failed file operation
// stops it there; the process then dies) leaves a log that opens clean and
// consistent: a prefix of the old log with its epochs, producer state and
// high watermark, or the empty log.
func TestTruncateFullyCrashPoints(t *testing.T) {
	const offset = 100
	type outcome struct {
		prefixOf int   // segments of the old log kept (-1: the empty log)
		emptyAt  int64 // the empty log's offset
	}
	for _, tc := range []struct {
		name string
		rule func(bases []int64) faultRule
		want func(bases []int64) outcome
	}{
		{"before the segments go",
			func(b []int64) faultRule { return faultRule{op: opRename, path: segmentName(b[len(b)-1], logExt)} },
			func(b []int64) outcome { return outcome{prefixOf: len(b)} }},
		{"part way through the segments",
			func(b []int64) faultRule { return faultRule{op: opRename, path: segmentName(b[len(b)-3], logExt)} },
			func(b []int64) outcome { return outcome{prefixOf: len(b) - 2} }},
		{"before the new segment",
			func([]int64) faultRule { return faultRule{op: opOpen, path: segmentName(offset, logExt)} },
			func([]int64) outcome { return outcome{prefixOf: 0} }},
		{"before the high watermark",
			func([]int64) faultRule { return faultRule{op: opCheckpoint, path: hwFile} },
			func([]int64) outcome { return outcome{prefixOf: -1, emptyAt: offset} }},
		{"before the checkpoint",
			// The first write marks the checkpoint unclean.
			func([]int64) faultRule {
				return faultRule{op: opCheckpoint, path: filepath.Join("t-0", checkpointFile), skip: 1}
			},
			func([]int64) outcome { return outcome{prefixOf: -1, emptyAt: offset} }},
		{"before the epoch file",
			func([]int64) faultRule { return faultRule{op: opCheckpoint, path: epochFile} },
			func([]int64) outcome { return outcome{prefixOf: -1, emptyAt: offset} }},
		{"before the producer snapshot",
			func([]int64) faultRule { return faultRule{op: opSnapshot, path: snapshotFile} },
			func([]int64) outcome { return outcome{prefixOf: -1, emptyAt: offset} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, l, raw := fullLog(t, dir)
			oldEpochs := epochsOf(t, l)
			bases := segmentBases(l)
			rule := tc.rule(bases)
			rule.err = syscall.EIO
			clear := injectFaults(t, rule)
			err := l.TruncateFullyAndStartAt(context.Background(), offset)
			clear()
			if !errors.Is(err, ErrStorage) {
				t.Fatalf("TruncateFullyAndStartAt with a failing step: %v; want a storage error", err)
			}
			crash(t, m)
			m = openManagerWith(t, dir, nil, manualHW)
			defer m.Close()
			l = m.Log("t", 0)
			if err := l.Offline(); err != nil {
				t.Fatal(err)
			}
			want := tc.want(bases)
			if want.prefixOf < 0 {
				checkEmptyAt(t, l, want.emptyAt)
				if res, err := l.Append(context.Background(), prodBatch(0), AppendOptions{LeaderEpoch: 5}); err != nil || res.Duplicate || res.BaseOffset != want.emptyAt {
					t.Fatalf("producer 7 from sequence 0: %+v, %v", res, err)
				}
				return
			}
			end := int64(0)
			if want.prefixOf < len(bases) {
				end = bases[want.prefixOf]
			} else {
				end = 80
			}
			checkPrefix(t, l, raw, oldEpochs, end)
		})
	}
}

// checkPrefix checks that l is the first end offsets of the log fullLog
// wrote (raw, whose epochs were epochs): its bytes, epochs, high watermark
// and producer state.
func checkPrefix(t *testing.T, l *Log, raw []byte, epochs epochList, end int64) {
	t.Helper()
	if start, got := l.LogStartOffset(), l.LogEndOffset(); start != 0 || got != end {
		t.Fatalf("log [%d, %d); want the prefix [0, %d)", start, got, end)
	}
	if hw := l.HighWatermark(); hw != min(60, end) {
		t.Fatalf("high watermark %d; want %d", hw, min(60, end))
	}
	if got := readRaw(t, l, 0); !bytes.Equal(got, raw[:batchEnd(t, raw, int(end/2))]) {
		t.Fatalf("the log is not the old log's first %d offsets", end)
	}
	if got, want := epochsOf(t, l), epochs.truncateFromEnd(end); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v; want %v", got, want)
	}
	l.mu.RLock()
	cleanedTo := l.mu.cleanedTo
	l.mu.RUnlock()
	if cleanedTo > end {
		t.Fatalf("the cleaner's first dirty offset %d is past the log end %d", cleanedTo, end)
	}
	ctx := context.Background()
	if end > 0 {
		last := int(end/2) - 1
		if res, err := l.Append(ctx, prodBatch(last), AppendOptions{LeaderEpoch: 9}); err != nil || !res.Duplicate || res.BaseOffset != end-2 {
			t.Fatalf("retry of the last batch: %+v, %v; want a duplicate at %d", res, err, end-2)
		}
	}
	if res, err := l.Append(ctx, prodBatch(int(end/2)), AppendOptions{LeaderEpoch: 9}); err != nil || res.Duplicate || res.BaseOffset != end {
		t.Fatalf("the next batch: %+v, %v; want a new append at %d", res, err, end)
	}
}

// Readers racing with full truncations (to offsets above, below and at
// the old ones) and appends get whole valid batches or ErrLogTruncated or
// ErrOffsetOutOfRange; the log never goes offline.
func TestTruncateFullyConcurrentReaders(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	ctx := context.Background()
	for i := range 40 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var served atomic.Int64
	for r := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				off := l.LogStartOffset() + int64((i*7*(r+1))%80)
				before := truncations(l)
				res, err := l.Read(off, int64(1+i%4)*300, true)
				if err != nil {
					if !errors.Is(err, ErrLogTruncated) && !errors.Is(err, ErrOffsetOutOfRange) {
						t.Errorf("Read(%d): %v", off, err)
						return
					}
					continue
				}
				for _, c := range res.Chunks {
					b, err := c.ReadAll()
					if err == nil {
						_, err = validateAll(b)
					}
					if err != nil && !l.truncatedAfter(before) {
						t.Errorf("chunk at %d: %v", off, err)
					}
				}
				served.Add(int64(len(res.Chunks)))
				res.Release()
			}
		})
	}
	starts := []int64{100, 100, 37, 0, 250, 80}
	for i := range 30 {
		start := starts[i%len(starts)]
		if err := l.TruncateFullyAndStartAt(ctx, start); err != nil {
			t.Fatal(err)
		}
		for l.LogEndOffset() < start+80 {
			mustAppend(t, l, batchAt(i, 2, int64(i)), false)
		}
	}
	stop.Store(true)
	wg.Wait()
	if l.Offline() != nil {
		t.Fatal(l.Offline())
	}
	if served.Load() == 0 {
		t.Fatal("readers read nothing")
	}
	if hs := readBatches(t, l, l.LogStartOffset()); len(hs) != 40 || hs[0].BaseOffset != 80 {
		t.Fatalf("the last log holds %d batches from %d; want 40 from 80", len(hs), hs[0].BaseOffset)
	}
}

func TestTruncateFullyRefusesNegativeOffset(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, batchAt(0, 2, 0), false)
	if err := l.TruncateFullyAndStartAt(context.Background(), -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TruncateFullyAndStartAt(-1): %v", err)
	}
	if end := l.LogEndOffset(); end != 2 {
		t.Fatalf("the log changed: end %d", end)
	}
}
