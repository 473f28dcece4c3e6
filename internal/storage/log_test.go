package storage

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func TestAppendReadAcrossRolls(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	const batches, per = 60, 3
	for i := range batches {
		res := mustAppend(t, l, batchAt(i, per, 1000+int64(i)), false)
		if res.BaseOffset != int64(i*per) || res.LogAppendTime != -1 || res.Duplicate {
			t.Fatalf("append %d: %+v", i, res)
		}
	}
	if got := l.HighWatermark(); got != batches*per {
		t.Fatalf("high watermark %d", got)
	}
	if n := len(l.mu.segments); n < 3 {
		t.Fatalf("expected several segments, got %d", n)
	}
	for _, from := range []int64{0, 1, 2, 3, 77, 100, batches*per - 1} {
		hs := readBatches(t, l, from)
		if len(hs) == 0 || hs[0].BaseOffset > from || hs[0].LastOffset() < from {
			t.Fatalf("read from %d starts at batch %+v", from, hs[0])
		}
		for i, h := range hs {
			want := from - from%per + int64(i*per)
			if h.BaseOffset != want || h.PartitionLeaderEpoch != 0 {
				t.Fatalf("read from %d: batch %d at %d, want %d", from, i, h.BaseOffset, want)
			}
		}
	}
}

func TestReadLimits(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	b := batchAt(0, 3, 0)
	for i := range 5 {
		mustAppend(t, l, batchAt(i, 3, 0), false)
	}
	size := int64(len(b))
	tests := []struct {
		name     string
		offset   int64
		max      int64
		minOne   bool
		wantLen  int64
		wantErr  error
		wantNone bool
	}{
		{"at high watermark", 15, 100, true, 0, nil, true},
		{"past high watermark", 16, 100, true, 0, ErrOffsetOutOfRange, true},
		{"negative", -1, 100, true, 0, ErrOffsetOutOfRange, true},
		{"two batches fit", 0, 2*size + 1, false, 2 * size, nil, false},
		{"none fits", 0, size - 1, false, 0, nil, true},
		{"min one batch", 0, 1, true, size, nil, false},
		{"mid batch", 4, size, false, size, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.Read(tt.offset, tt.max, tt.minOne)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			var n int64
			for _, c := range res.Chunks {
				n += c.Len
			}
			if tt.wantNone != (len(res.Chunks) == 0) || !tt.wantNone && n != tt.wantLen {
				t.Fatalf("read %d bytes in %d chunks, want %d", n, len(res.Chunks), tt.wantLen)
			}
			if err == nil && res.HighWatermark != 15 {
				t.Fatalf("high watermark %d", res.HighWatermark)
			}
		})
	}
}

func TestAppendRejectsBeforeWriting(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	lc := smallConfig()
	lc.MaxMessageBytes = 500
	l := createLog(t, m, lc)
	good := batchAt(0, 2, 0)
	corrupt := batchAt(1, 2, 0)
	corrupt[len(corrupt)-1] ^= 1
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, record.ErrInvalid},
		{"corrupt second", concat(good, corrupt), record.ErrCorrupt},
		{"truncated second", concat(good, good[:70]), record.ErrInvalid},
		{"too large", concat(good, recordtest.Simple(3, 200)), ErrRecordTooLarge},
	}
	for _, tt := range tests {
		if _, err := l.Append(context.Background(), tt.in, AppendOptions{}); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected appends wrote data: end %d size %d", l.LogEndOffset(), l.Size())
	}
	res := mustAppend(t, l, concat(good, good), true)
	if res.BaseOffset != 0 || l.LogEndOffset() != 4 {
		t.Fatalf("multi-batch append: %+v end %d", res, l.LogEndOffset())
	}
}

func TestLogAppendTime(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	m := openManager(t, t.TempDir(), clock)
	defer m.Close()
	lc := smallConfig()
	lc.TimestampType = LogAppendTime
	l := createLog(t, m, lc)
	res := mustAppend(t, l, batchAt(0, 2, 5), false)
	if res.LogAppendTime != clock.now().UnixMilli() {
		t.Fatalf("log append time %d", res.LogAppendTime)
	}
	h := readBatches(t, l, 0)[0]
	if !h.HasLogAppendTime() || h.MaxTimestamp != res.LogAppendTime {
		t.Fatalf("batch %+v", h)
	}
	if off, ts, ok := l.OffsetForTimestamp(res.LogAppendTime); !ok || off != 0 || ts != res.LogAppendTime {
		t.Fatalf("OffsetForTimestamp: %d %d %v", off, ts, ok)
	}
}

func TestChangedAndGroupCommit(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	ch := l.Changed()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	offsets := make(chan int64, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				res := mustAppend(t, l, batchAt(w*each+i, 2, 0), i%3 == 0)
				offsets <- res.BaseOffset
			}
		})
	}
	wg.Wait()
	close(offsets)
	select {
	case <-ch:
	default:
		t.Fatal("Changed channel not closed by appends")
	}
	seen := map[int64]bool{}
	for off := range offsets {
		if off%2 != 0 || seen[off] {
			t.Fatalf("bad or duplicate base offset %d", off)
		}
		seen[off] = true
	}
	if hs := readBatches(t, l, 0); len(hs) != writers*each {
		t.Fatalf("read %d batches", len(hs))
	}
}

func TestRestartAfterClose(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 40 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	if _, err := l.DeleteRecordsBefore(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	wantSize := l.Size()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), batchAt(0, 1, 0), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	m = openManager(t, dir, nil)
	defer m.Close()
	if ps := m.Partitions("t"); len(ps) != 1 || ps[0] != 0 {
		t.Fatalf("partitions %v", ps)
	}
	l = m.Log("t", 0)
	if l.LogEndOffset() != 80 || l.LogStartOffset() != 3 || l.Size() != wantSize {
		t.Fatalf("after restart: end %d start %d size %d/%d", l.LogEndOffset(), l.LogStartOffset(), l.Size(), wantSize)
	}
	if hs := readBatches(t, l, 3); len(hs) != 39 {
		t.Fatalf("read %d batches", len(hs))
	}
	if res := mustAppend(t, l, batchAt(0, 1, 0), false); res.BaseOffset != 80 {
		t.Fatalf("append after restart at %d", res.BaseOffset)
	}
	if off, ts, ok := l.MaxTimestamp(); !ok || off != 79 || ts != 40 {
		t.Fatalf("MaxTimestamp %d %d %v", off, ts, ok)
	}
}

func TestDeleteTopic(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	defer m.Close()
	lc := smallConfig()
	lc.FileDeleteDelayMs = 60_000
	l := createLog(t, m, lc)
	mustAppend(t, l, batchAt(0, 2, 0), false)
	res, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	if m.Log("t", 0) != nil || len(m.Partitions("t")) != 0 {
		t.Fatal("log still listed")
	}
	if _, err := os.Stat(filepath.Join(dir, "t-0")); !os.IsNotExist(err) {
		t.Fatalf("dir still exists: %v", err)
	}
	if _, err := res.Chunks[0].ReadAll(); err != nil {
		t.Fatalf("in-flight chunk unreadable after delete: %v", err)
	}
	if _, err := l.Append(context.Background(), batchAt(0, 1, 0), AppendOptions{}); !errors.Is(err, ErrLogDeleted) {
		t.Fatalf("append to deleted log: %v", err)
	}
	l2 := createLog(t, m, lc)
	if l2.LogEndOffset() != 0 {
		t.Fatal("recreated log not empty")
	}
}

func TestFlushPolicies(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	lc := smallConfig()
	lc.FlushMs = 20
	l := createLog(t, m, lc)
	mustAppend(t, l, batchAt(0, 2, 0), false)
	recoveryPoint := func() int64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.mu.recoveryPoint
	}
	waitFor(t, func() bool { return recoveryPoint() == 2 }) // flush.ms timer
	lc.FlushMs = math.MaxInt64
	lc.FlushMessages = 4
	l.SetConfig(lc)
	mustAppend(t, l, batchAt(1, 2, 0), false)
	if recoveryPoint() != 2 {
		t.Fatal("flushed before flush.messages")
	}
	mustAppend(t, l, batchAt(2, 2, 0), false)
	if recoveryPoint() != 6 {
		t.Fatalf("flush.messages did not flush: recovery point %d", recoveryPoint())
	}
}
