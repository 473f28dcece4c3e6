package storage

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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

// FuzzIndexRebuild damages an index file of a cleanly closed log with
// fuzzed bytes (or cuts it) and reopens: open must not fail or panic, the
// log must stay online (indexes are derived data), every batch must be
// readable from any offset, and appends must work after.
func FuzzIndexRebuild(f *testing.F) {
	fixture := f.TempDir()
	fx := writeIndexFixture(f, fixture)
	names := make([]string, 0, len(fx.files))
	for name := range fx.files {
		names = append(names, name)
	}
	slices.Sort(names)
	f.Add(uint8(0), uint16(0), []byte{}, true)
	f.Add(uint8(1), uint16(8), []byte{0, 0, 0, 0, 0, 0, 0, 1}, false)
	f.Add(uint8(3), uint16(12), []byte{0xff, 0xff}, false)
	f.Add(uint8(4), uint16(20), []byte{0x00}, true)
	f.Fuzz(func(t *testing.T, which uint8, at uint16, junk []byte, cut bool) {
		dir := t.TempDir()
		must(t, os.CopyFS(dir, os.DirFS(fixture)))
		path := filepath.Join(dir, "t-0", names[int(which)%len(names)])
		if cut {
			must(t, os.Truncate(path, int64(at)%int64(len(fx.files[filepath.Base(path)])+1)))
		} else {
			patchFile(t, path, int64(at)%4096, junk)
		}
		m := openManagerWith(t, dir, nil, func(c *Config) {
			c.LogConfig = func(string) LogConfig { return indexConfig() }
		})
		defer m.Close()
		l := m.Log("t", 0)
		for off := int64(0); off < 180; off += 13 {
			if hs := readBatches(t, l, off); len(hs) == 0 || hs[0].BaseOffset > off || hs[len(hs)-1].LastOffset() != 179 {
				t.Fatalf("read from %d: %d batches", off, len(hs))
			}
		}
		l.OffsetForTimestamp(int64(at))
		if l.Offline() != nil {
			t.Fatalf("offline after index damage: %v", l.Offline())
		}
		if res := mustAppend(t, l, batchAt(1, 1, 5000), true); res.BaseOffset != 180 {
			t.Fatalf("append at %d", res.BaseOffset)
		}
	})
}

// FuzzEpochCheckpoint decodes arbitrary leader-epoch checkpoint files: no
// panic, and whatever decodes is a valid cache that encodes back to the
// same bytes.
func FuzzEpochCheckpoint(f *testing.F) {
	f.Add(epochList{{0, 0}}.encode())
	f.Add(epochList{{1, 10}, {3, 20}, {5, 30}}.encode())
	f.Add(epochList(nil).encode())
	f.Add([]byte("EDLE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := decodeEpochs(b)
		if err != nil {
			return
		}
		for i, e := range el {
			if e.epoch < 0 || e.start < 0 || i > 0 && (e.epoch <= el[i-1].epoch || e.start <= el[i-1].start) {
				t.Fatalf("decoded an invalid cache %v", el)
			}
		}
		if !slices.Equal(el.encode(), b) {
			t.Fatalf("%v encodes to other bytes", el)
		}
	})
}
