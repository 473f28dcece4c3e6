package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRetentionByTime(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	m := openManager(t, t.TempDir(), clock)
	defer m.Close()
	lc := smallConfig()
	lc.RetentionMs = time.Hour.Milliseconds()
	lc.SegmentMs = 365 * 24 * time.Hour.Milliseconds()
	l := createLog(t, m, lc)
	base := clock.now().UnixMilli()
	for i := range 100 { // old data, several segments
		mustAppend(t, l, batchAt(i, 2, base-2*time.Hour.Milliseconds()), false)
	}
	for i := range 30 { // fresh data
		mustAppend(t, l, batchAt(i, 2, base), false)
	}
	if err := l.enforceRetention(context.Background(), clock.now()); err != nil {
		t.Fatal(err)
	}
	start := l.LogStartOffset()
	if start == 0 || start > 200 {
		t.Fatalf("log start %d after deleting old segments", start)
	}
	if hs := readBatches(t, l, start); hs[len(hs)-1].LastOffset() != 259 {
		t.Fatal("fresh data lost")
	}
	// Everything expires: the active segment is rolled and deleted too.
	clock.advance(3 * time.Hour)
	if err := l.enforceRetention(context.Background(), clock.now()); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 260 || l.Size() != 0 || len(l.mu.segments) != 1 {
		t.Fatalf("after full expiry: start %d size %d segments %d", l.LogStartOffset(), l.Size(), len(l.mu.segments))
	}
	if res := mustAppend(t, l, batchAt(0, 1, clock.now().UnixMilli()), false); res.BaseOffset != 260 {
		t.Fatalf("append after expiry at %d", res.BaseOffset)
	}
	// Deleted files are gone (delay 0) and the start offset persisted.
	waitFor(t, func() bool {
		ents, _ := filepath.Glob(filepath.Join(l.dir, "*"+deletedExt))
		return len(ents) == 0
	})
	if cp, err := readCheckpoint(l.dir); err != nil || cp.logStart != 260 {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
}

func TestRetentionBySize(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	lc := smallConfig()
	lc.RetentionMs = -1
	lc.RetentionBytes = 10 << 10
	l := createLog(t, m, lc)
	for i := range 200 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	before := l.Size()
	if err := l.enforceRetention(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Like Kafka, retention.bytes removes whole segments only while the
	// rest still exceeds the limit, so up to one segment more remains.
	if l.Size() > lc.RetentionBytes+lc.SegmentBytes || l.Size() < lc.RetentionBytes-lc.SegmentBytes {
		t.Fatalf("size %d -> %d with retention.bytes %d", before, l.Size(), lc.RetentionBytes)
	}
	if _, err := l.Read(0, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	lc.Delete = false
	l.SetConfig(lc)
	lc.RetentionBytes = 0
	size := l.Size()
	if err := l.enforceRetention(context.Background(), time.Now()); err != nil || l.Size() != size {
		t.Fatalf("compact-only log was trimmed: %v", err)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 100 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	segsBefore := len(l.mu.segments)
	tests := []struct {
		offset, want int64
		err          error
	}{
		{201, 0, ErrOffsetOutOfRange},
		{-5, 0, ErrOffsetOutOfRange},
		{57, 57, nil},
		{10, 57, nil}, // never moves back
		{150, 150, nil},
		{-1, 200, nil}, // -1 means the high watermark
	}
	for _, tt := range tests {
		got, err := l.DeleteRecordsBefore(context.Background(), tt.offset)
		if !errors.Is(err, tt.err) || err == nil && got != tt.want {
			t.Fatalf("DeleteRecordsBefore(%d) = %d, %v; want %d, %v", tt.offset, got, err, tt.want, tt.err)
		}
		if err == nil && l.LogStartOffset() != tt.want {
			t.Fatalf("log start %d", l.LogStartOffset())
		}
	}
	if len(l.mu.segments) >= segsBefore {
		t.Fatalf("no segments deleted (%d)", len(l.mu.segments))
	}
	crash(t, m) // the start offset must be durable without a clean close
	m = openManager(t, dir, nil)
	defer m.Close()
	if got := m.Log("t", 0).LogStartOffset(); got != 200 {
		t.Fatalf("log start after restart %d", got)
	}
}

func TestDeletedSegmentChunkStaysReadable(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	lc := smallConfig()
	lc.FileDeleteDelayMs = 60_000
	l := createLog(t, m, lc)
	for i := range 50 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	res, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(context.Background(), 90); err != nil {
		t.Fatal(err)
	}
	if f := res.Chunks[0].File; f != nil { // nil: an encrypted log's chunk, in memory
		if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
			t.Fatalf("deleted segment still under its name: %v", err)
		}
	}
	if _, err := res.Chunks[0].ReadAll(); err != nil {
		t.Fatalf("chunk of deleted segment: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
