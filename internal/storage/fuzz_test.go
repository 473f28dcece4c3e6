package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
)

// FuzzRecover writes valid batches, overwrites part of the segment with
// fuzzed bytes and reopens after a crash: recovery must not panic, must
// serve only valid, contiguous batches, and must accept appends after.
func FuzzRecover(f *testing.F) {
	f.Add(uint16(0), []byte{0xff})
	f.Add(uint16(61), []byte("garbage"))
	f.Add(uint16(300), make([]byte, 200))
	f.Add(uint16(1000), batchAt(7, 3, 0))
	f.Fuzz(func(t *testing.T, at uint16, junk []byte) {
		dir := t.TempDir()
		m := openManager(t, dir, nil)
		lc := smallConfig()
		lc.IndexIntervalBytes = 150
		l := createLog(t, m, lc)
		for i := range 8 {
			mustAppend(t, l, batchAt(i, 2, int64(i)), false)
		}
		crash(t, m)
		path := filepath.Join(dir, "t-0", segmentName(0, logExt))
		fh, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteAt(junk, int64(at))
		fh.Close()
		m = openManager(t, dir, nil)
		defer m.Close()
		l = m.Log("t", 0)
		hs := readBatches(t, l, 0)
		next := int64(0)
		for _, h := range hs {
			if h.BaseOffset != next {
				t.Fatalf("batch at %d, expected %d", h.BaseOffset, next)
			}
			next = h.LastOffset() + 1
		}
		if next != l.LogEndOffset() {
			t.Fatalf("served up to %d, log end %d", next, l.LogEndOffset())
		}
		res, err := l.Append(context.Background(), batchAt(9, 1, 0), AppendOptions{Sync: true})
		if err != nil || res.BaseOffset != next {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
		l.OffsetForTimestamp(3)
	})
}

func TestRecordErrorsWrap(t *testing.T) {
	if ErrCorrupt != record.ErrCorrupt || ErrInvalid != record.ErrInvalid {
		t.Fatal("aliases differ")
	}
}

// FuzzCleanerCheckpoint checks that decoding never panics and that
// encode/decode round-trips.
func FuzzCleanerCheckpoint(f *testing.F) {
	f.Add(encodeCleanerCheckpoint(4711))
	f.Add([]byte("EDCC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		off, err := decodeCleanerCheckpoint(b)
		if err != nil {
			return
		}
		if again, err := decodeCleanerCheckpoint(encodeCleanerCheckpoint(off)); err != nil || again != off {
			t.Fatalf("round trip of %d: %d %v", off, again, err)
		}
	})
}
