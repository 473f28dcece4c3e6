package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// activeLogPath returns the path of the last segment file of t-0.
func lastSegmentPath(t testing.TB, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+logExt))
	if len(files) == 0 {
		t.Fatal("no segments")
	}
	return files[len(files)-1]
}

func TestRecoverTornTail(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantEnd int64
	}{
		{"clean crash", func(*testing.T, string) {}, 40},
		{"truncated mid batch", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			must(t, os.Truncate(path, fi.Size()-7))
		}, 38},
		{"garbage appended", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("this is not a record batch at all, just junk......................"))
			f.Close()
		}, 40},
		{"zeros appended", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			must(t, os.Truncate(path, fi.Size()+4096))
		}, 40},
		{"bit flip in last batch", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			fi, _ := f.Stat()
			f.WriteAt([]byte{0xff}, fi.Size()-3)
			f.Close()
		}, 38},
		{"index garbage", func(t *testing.T, path string) {
			must(t, os.WriteFile(path[:len(path)-len(logExt)]+indexExt, []byte("12345678abcdefgh"), 0o644))
		}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openManager(t, dir, nil)
			lc := smallConfig()
			lc.SegmentBytes = 1 << 20
			lc.IndexIntervalBytes = 100
			l := createLog(t, m, lc)
			for i := range 20 {
				mustAppend(t, l, batchAt(i, 2, int64(i)+1), false)
			}
			crash(t, m)
			tt.damage(t, lastSegmentPath(t, dir))
			m = openManager(t, dir, nil)
			defer m.Close()
			l = m.Log("t", 0)
			if got := l.LogEndOffset(); got != tt.wantEnd {
				t.Fatalf("log end %d, want %d", got, tt.wantEnd)
			}
			if hs := readBatches(t, l, 0); int64(len(hs)*2) != tt.wantEnd {
				t.Fatalf("read %d batches", len(hs))
			}
			if res := mustAppend(t, l, batchAt(99, 2, 1), true); res.BaseOffset != tt.wantEnd {
				t.Fatalf("append after recovery at %d", res.BaseOffset)
			}
			if off, _, ok := l.OffsetForTimestamp(5); !ok || off != 7 {
				t.Fatalf("OffsetForTimestamp(5) = %d %v", off, ok)
			}
		})
	}
}

func TestRecoverDropsSegmentsAfterCorruption(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 100 {
		mustAppend(t, l, batchAt(i, 2, 0), false)
	}
	segs := len(l.mu.segments)
	first := l.mu.segments[0].path(logExt)
	crash(t, m)
	// Corrupt the first segment's second batch; nothing after may be served.
	f, _ := os.OpenFile(first, os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad}, 119+70)
	f.Close()
	must(t, os.Remove(filepath.Join(dir, "t-0", checkpointFile)))
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	if l.LogEndOffset() != 2 || len(l.mu.segments) != 1 || segs < 2 {
		t.Fatalf("end %d with %d of %d segments", l.LogEndOffset(), len(l.mu.segments), segs)
	}
}

func TestIndexLookup(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	lc := smallConfig()
	lc.SegmentBytes = 1 << 20
	lc.IndexIntervalBytes = 300
	l := createLog(t, m, lc)
	for i := range 50 {
		mustAppend(t, l, batchAt(i, 2, int64(1000+i)), false)
	}
	s := l.mu.segments[0]
	if len(s.st.index) < 10 {
		t.Fatalf("only %d index entries", len(s.st.index))
	}
	for _, e := range s.st.index {
		h, err := newBatchReader(s.log, s.st.size, 100).header(int64(e.pos))
		if err != nil || h.LastOffset() != int64(e.rel) {
			t.Fatalf("entry %+v points at %+v: %v", e, h, err)
		}
	}
	for off := int64(0); off < 100; off++ {
		pos := lookupIndex(s.st.index, uint32(off), s.st.size)
		h, _ := newBatchReader(s.log, s.st.size, 100).header(pos)
		if h.BaseOffset > off {
			t.Fatalf("lookup(%d) lands after it at %d", off, h.BaseOffset)
		}
	}
	// Time lookups: batch i has timestamps 1000+i and 1001+i.
	for _, tt := range []struct{ ts, off, gotTs int64 }{{0, 0, 1000}, {1000, 0, 1000}, {1001, 1, 1001}, {1030, 59, 1030}, {1049, 97, 1049}, {1050, 99, 1050}} {
		off, ts, ok := l.OffsetForTimestamp(tt.ts)
		if !ok || off != tt.off || ts != tt.gotTs {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tt.ts, off, ts, ok, tt.off, tt.gotTs)
		}
	}
	if _, _, ok := l.OffsetForTimestamp(1051); ok {
		t.Fatal("found a timestamp beyond the max")
	}
	if off, ts, ok := l.MaxTimestamp(); !ok || off != 99 || ts != 1050 {
		t.Fatalf("MaxTimestamp = %d %d %v", off, ts, ok)
	}
}

func TestSegmentMsRoll(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	m := openManager(t, t.TempDir(), clock)
	defer m.Close()
	lc := smallConfig()
	lc.SegmentBytes = 1 << 20
	lc.SegmentMs = 1000
	l := createLog(t, m, lc)
	mustAppend(t, l, batchAt(0, 1, clock.now().UnixMilli()), false)
	mustAppend(t, l, batchAt(1, 1, clock.now().UnixMilli()), false)
	clock.advance(2 * time.Second)
	mustAppend(t, l, batchAt(2, 1, clock.now().UnixMilli()), false)
	if n := len(l.mu.segments); n != 2 || l.mu.segments[1].base != 2 {
		t.Fatalf("%d segments", n)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
