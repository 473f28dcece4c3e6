package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// logBuffer collects what storage logs, to check that corruption is
// reported.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (lb *logBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.Write(p)
}

func (lb *logBuffer) String() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.String()
}

// openManagerWith opens a manager whose log also goes to lb, with cfg
// adjusted by mod (nil for none).
func openManagerWith(t testing.TB, dir string, lb *logBuffer, mod func(*Config)) *Manager {
	t.Helper()
	h := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})
	if lb != nil {
		h = slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	cfg := Config{Dir: dir, Logger: slog.New(h), RetentionCheckInterval: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	m, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func noBackgroundVerify(c *Config) { c.VerifyBytesPerSecond = -1 }

// writeCorruptFixture writes 60 batches of two records (timestamps 1000+10i
// and 1001+10i) to t-0 and u-0, closes cleanly and returns t-0's segment
// files in order.
func writeCorruptFixture(t *testing.T, dir string, lc LogConfig) []string {
	t.Helper()
	m := openManager(t, dir, nil)
	for _, topic := range []string{"t", "u"} {
		l, err := m.CreateLog(topic, 0, lc)
		must(t, err)
		for i := range 60 {
			mustAppend(t, l, batchAt(i, 2, int64(1000+10*i)), false)
		}
	}
	must(t, m.Close())
	segs, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+logExt))
	if len(segs) < 2 {
		t.Fatalf("want closed segments, have %d segment(s)", len(segs))
	}
	return segs
}

// batchPositions returns the file position of every batch in a segment.
func batchPositions(t *testing.T, b []byte) []int64 {
	t.Helper()
	var ps []int64
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		must(t, err)
		ps = append(ps, int64(pos))
		pos += h.Size()
	}
	return ps
}

func patchFile(t *testing.T, path string, pos int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(b, pos)
	must(t, err)
	must(t, f.Close())
}

// readAllFrom reads l from offset 0 on and returns the chunks served and
// the error that stopped the reading (nil at the end of the log).
func readAllFrom(l *Log) ([]Chunk, error) {
	var chunks []Chunk
	for offset := int64(0); ; {
		res, err := l.Read(offset, 1000, true)
		if err != nil || len(res.Chunks) == 0 {
			return chunks, err
		}
		for _, c := range res.Chunks {
			chunks = append(chunks, c)
			b, err := c.ReadAll()
			if err != nil {
				return chunks, err
			}
			for len(b) > 0 {
				h, err := record.ParseHeader(b)
				if err != nil {
					return chunks, err
				}
				offset = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
	}
}

// assertOffline checks that t-0 went offline with the error and log line
// the operator needs, never served pos of seg, and that u-0 still works.
func assertOffline(t *testing.T, m *Manager, lb *logBuffer, chunks []Chunk, err error, seg string, pos int64) {
	t.Helper()
	for _, c := range chunks {
		if c.File != nil && c.File.Name() == seg && c.Pos <= pos && pos < c.Pos+c.Len {
			t.Fatalf("served the damaged byte at %d in chunk [%d, %d)", pos, c.Pos, c.Pos+c.Len)
		}
	}
	if !errors.Is(err, ErrLogCorrupt) || !errors.Is(err, ErrStorage) || errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("read error %v, want a storage error for a corrupt log", err)
	}
	l := m.Log("t", 0)
	if l.Offline() == nil {
		t.Fatal("log not offline")
	}
	if _, err := l.Append(context.Background(), batchAt(0, 1, 0), AppendOptions{}); !errors.Is(err, ErrLogCorrupt) {
		t.Fatalf("append to offline log: %v", err)
	}
	out := lb.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "corrupt batch on disk") ||
		!strings.Contains(out, filepath.Base(seg)) || !strings.Contains(out, "position=") || !strings.Contains(out, "offset=") {
		t.Fatalf("corruption not logged with file and position:\n%s", out)
	}
	if hs := readBatches(t, m.Log("u", 0), 0); len(hs) != 60 {
		t.Fatalf("other partition served %d batches", len(hs))
	}
}

// damage is a change to one batch of a closed segment.
type damage struct {
	name string
	at   int64 // position in the batch
	b    []byte
	xor  byte // when b is nil: flip bits of the byte at at
}

func (d damage) apply(t *testing.T, path string, batch int64) int64 {
	t.Helper()
	pos := batch + d.at
	b := d.b
	if b == nil {
		orig, err := os.ReadFile(path)
		must(t, err)
		b = []byte{orig[pos] ^ d.xor}
	}
	patchFile(t, path, pos, b)
	return pos
}

func corruptCases(t *testing.T, segLen int) []damage {
	big := binary.BigEndian.AppendUint32(nil, uint32(segLen*4))
	ds := []damage{
		{name: "base offset low bit", at: 7, xor: 1},
		{name: "base offset high byte", at: 0, xor: 0x40},
		{name: "length low byte", at: 11, xor: 0x04},
		{name: "length past the segment", at: 8, b: big},
		{name: "length below the minimum", at: 8, b: []byte{0, 0, 0, 10}},
		{name: "length zero", at: 8, b: []byte{0, 0, 0, 0}},
		{name: "leader epoch", at: 15, xor: 0x01},
		{name: "magic", at: 16, xor: 0x03},
		{name: "crc", at: 19, xor: 0x80},
		{name: "attributes", at: 22, xor: 0x01},
		{name: "last offset delta", at: 26, xor: 0x01},
		{name: "max timestamp", at: 42, xor: 0x10},
		{name: "record count", at: 60, xor: 0x01},
		{name: "record key", at: 68, xor: 0x20},
	}
	rng := rand.New(rand.NewPCG(8, uint64(time.Now().UnixNano())))
	for range 6 {
		at, xor := int64(rng.IntN(110)), byte(1<<rng.IntN(8))
		// The name says where, so a failing run can be repeated as a fixed case.
		ds = append(ds, damage{name: fmt.Sprintf("random byte %d xor %#x", at, xor), at: at, xor: xor})
	}
	return ds
}

// A damaged batch in a closed segment, found on disk after a clean
// shutdown, is never served: the read that reaches it fails, the
// partition goes offline, the damage is logged and other partitions work.
func TestCorruptBatchNeverServed(t *testing.T) {
	fixture := t.TempDir()
	segs := writeCorruptFixture(t, fixture, smallConfig())
	orig, err := os.ReadFile(segs[0])
	must(t, err)
	batches := batchPositions(t, orig)
	for i, d := range corruptCases(t, len(orig)) {
		for _, which := range []int{0, len(batches) / 2, len(batches) - 1} {
			t.Run(d.name, func(t *testing.T) {
				dir := t.TempDir()
				must(t, os.CopyFS(dir, os.DirFS(fixture)))
				seg := filepath.Join(dir, "t-0", filepath.Base(segs[0]))
				pos := d.apply(t, seg, batches[(which+i)%len(batches)])
				lb := &logBuffer{}
				m := openManagerWith(t, dir, lb, noBackgroundVerify)
				defer m.Close()
				chunks, err := readAllFrom(m.Log("t", 0))
				assertOffline(t, m, lb, chunks, err, seg, pos)
			})
		}
	}
}

// The background verifier finds damage in data nobody reads.
func TestBackgroundVerifierFindsCorruption(t *testing.T) {
	dir := t.TempDir()
	segs := writeCorruptFixture(t, dir, smallConfig())
	patchFile(t, segs[0], 3000, []byte{0xee})
	lb := &logBuffer{}
	m := openManagerWith(t, dir, lb, nil)
	defer m.Close()
	l := m.Log("t", 0)
	waitFor(t, func() bool { return l.Offline() != nil })
	chunks, err := readAllFrom(l)
	assertOffline(t, m, lb, chunks, err, segs[0], 3000)
}

// Damage found at open below the recovery point (here: a header in the
// tail of a closed segment, which open reads, after a clean shutdown)
// takes the log offline instead of truncating acknowledged data.
func TestCorruptionBelowRecoveryPointNotTruncated(t *testing.T) {
	dir := t.TempDir()
	segs := writeCorruptFixture(t, dir, smallConfig())
	before, err := os.ReadFile(segs[0])
	must(t, err)
	// The last batch's header: the last index entry points at it.
	last := batchPositions(t, before)
	patchFile(t, segs[0], last[len(last)-1]+8, []byte{0x7f})
	lb := &logBuffer{}
	m := openManagerWith(t, dir, lb, noBackgroundVerify)
	chunks, rerr := readAllFrom(m.Log("t", 0))
	assertOffline(t, m, lb, chunks, rerr, segs[0], last[len(last)-1]+8)
	must(t, m.Close())
	after, err := os.ReadFile(segs[0])
	must(t, err)
	if len(after) != len(before) {
		t.Fatalf("segment cut from %d to %d bytes", len(before), len(after))
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+logExt)); len(n) != len(segs) {
		t.Fatalf("%d segments left of %d", len(n), len(segs))
	}
}

// After an unclean shutdown, a torn tail above the recovery point is
// truncated as before, while damage below it takes the log offline.
func TestUncleanShutdownRecoveryPoint(t *testing.T) {
	for _, tt := range []struct {
		name    string
		at      func(size int64) int64
		offline bool
	}{
		{"torn tail above", func(size int64) int64 { return size - 5 }, false},
		{"damage below", func(int64) int64 { return 70 }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openManager(t, dir, nil)
			lc := smallConfig()
			lc.SegmentBytes = 1 << 20
			l := createLog(t, m, lc)
			for i := range 10 {
				mustAppend(t, l, batchAt(i, 2, int64(i)), true) // fsynced: below the recovery point
			}
			must(t, l.checkpointIfOpen())
			for i := range 5 {
				mustAppend(t, l, batchAt(10+i, 2, int64(i)), false)
			}
			crash(t, m)
			path := lastSegmentPath(t, dir)
			fi, err := os.Stat(path)
			must(t, err)
			patchFile(t, path, tt.at(fi.Size()), []byte{0xa5, 0x5a})
			lb := &logBuffer{}
			m = openManagerWith(t, dir, lb, noBackgroundVerify)
			defer m.Close()
			l = m.Log("t", 0)
			if !tt.offline {
				if l.Offline() != nil || l.LogEndOffset() != 28 {
					t.Fatalf("offline %v, log end %d; want the last batch truncated", l.Offline(), l.LogEndOffset())
				}
				return
			}
			if fi2, _ := os.Stat(path); l.Offline() == nil || fi2.Size() != fi.Size() {
				t.Fatalf("offline %v, size %d of %d", l.Offline(), fi2.Size(), fi.Size())
			}
			chunks, err := readAllFrom(l)
			if len(chunks) != 0 || !errors.Is(err, ErrLogCorrupt) || !strings.Contains(lb.String(), "corrupt batch on disk") {
				t.Fatalf("read %d chunks, err %v", len(chunks), err)
			}
		})
	}
}

// indexFixture writes t-0 with timestamps that rise and fall (so the time
// index differs from the offset index), closes cleanly and returns the
// answers and index files a rebuild must reproduce.
type indexFixture struct {
	byTs  map[int64][2]int64 // timestamp → offset, timestamp found
	files map[string][]byte  // .index and .timeindex files by name
}

func indexConfig() LogConfig {
	lc := smallConfig()
	lc.IndexIntervalBytes = 300
	return lc
}

func writeIndexFixture(t testing.TB, dir string) indexFixture {
	t.Helper()
	m := openManager(t, dir, nil)
	l := createLog(t, m, indexConfig())
	for i := range 90 {
		mustAppend(t, l, batchAt(i, 2, int64(1000+10*i-30*(i%4))), false)
	}
	fx := indexFixture{byTs: answers(l), files: map[string][]byte{}}
	must(t, m.Close())
	fx.files = indexFiles(t, dir)
	if len(fx.files) < 6 {
		t.Fatalf("only %d index files", len(fx.files))
	}
	return fx
}

func answers(l *Log) map[int64][2]int64 {
	byTs := map[int64][2]int64{}
	for ts := int64(900); ts < 2000; ts++ {
		off, got, _ := l.OffsetForTimestamp(ts)
		byTs[ts] = [2]int64{off, got}
	}
	return byTs
}

func indexFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, ext := range []string{indexExt, timeIndexExt} {
		paths, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+ext))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			must(t, err)
			files[filepath.Base(p)] = b
		}
	}
	return files
}

// checkRebuilt reopens dir and checks that reads, timestamp lookups and
// (after a clean close) the index files are what appends produced.
func checkRebuilt(t testing.TB, dir string, fx indexFixture) {
	t.Helper()
	// The node resolves the topic's config for logs found on disk.
	m := openManagerWith(t, dir, nil, func(c *Config) {
		c.LogConfig = func(string) LogConfig { return indexConfig() }
	})
	l := m.Log("t", 0)
	if hs := readBatches(t, l, 0); len(hs) != 90 || l.Offline() != nil {
		t.Fatalf("read %d batches, offline %v", len(hs), l.Offline())
	}
	for off := int64(0); off < 180; off += 7 {
		if hs := readBatches(t, l, off); len(hs) == 0 || hs[0].BaseOffset > off || hs[0].LastOffset() < off {
			t.Fatalf("read from %d starts at %+v", off, hs)
		}
	}
	got := answers(l)
	for ts, want := range fx.byTs {
		if got[ts] != want {
			t.Fatalf("OffsetForTimestamp(%d) = %v, want %v", ts, got[ts], want)
		}
	}
	must(t, m.Close())
	for name, want := range indexFiles(t, dir) {
		if !bytes.Equal(want, fx.files[name]) {
			t.Fatalf("%s differs from what appends wrote:\n got %x\nwant %x", name, want, fx.files[name])
		}
	}
}

// Missing, truncated or garbled index files of any segment are rebuilt at
// open exactly as appends wrote them.
func TestRebuildIndexes(t *testing.T) {
	fixture := t.TempDir()
	fx := writeIndexFixture(t, fixture)
	segs, _ := filepath.Glob(filepath.Join(fixture, "t-0", "*"+logExt))
	tests := []struct {
		name   string
		ext    string
		damage func(t *testing.T, path string)
	}{
		{"deleted", indexExt, func(t *testing.T, p string) { must(t, os.Remove(p)) }},
		{"deleted", timeIndexExt, func(t *testing.T, p string) { must(t, os.Remove(p)) }},
		{"emptied", indexExt, func(t *testing.T, p string) { must(t, os.Truncate(p, 0)) }},
		{"emptied", timeIndexExt, func(t *testing.T, p string) { must(t, os.Truncate(p, 0)) }},
		{"last entry cut", indexExt, cutEntry(indexEntrySize)},
		{"last entry cut", timeIndexExt, cutEntry(timeIndexEntrySize)},
		{"wrong size", indexExt, cutEntry(3)},
		{"wrong size", timeIndexExt, cutEntry(5)},
		{"entries not increasing", indexExt, func(t *testing.T, p string) { patchFile(t, p, 8, make([]byte, 8)) }},
		{"position past the file", indexExt, func(t *testing.T, p string) { patchFile(t, p, 4, []byte{0, 1, 0, 0}) }},
		{"position not a batch start", indexExt, func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			must(t, err)
			b := make([]byte, 4)
			f, err := os.Open(p)
			must(t, err)
			_, err = f.ReadAt(b, fi.Size()-4)
			f.Close()
			must(t, err)
			binary.BigEndian.PutUint32(b, binary.BigEndian.Uint32(b)+1)
			patchFile(t, p, fi.Size()-4, b)
		}},
		{"timestamps too low", timeIndexExt, func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			must(t, err)
			for pos := int64(0); pos < fi.Size(); pos += timeIndexEntrySize {
				patchFile(t, p, pos, binary.BigEndian.AppendUint64(nil, 1))
			}
		}},
		{"offsets past the segment", timeIndexExt, func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			must(t, err)
			patchFile(t, p, fi.Size()-4, []byte{0, 0, 0x7f, 0})
		}},
	}
	for _, tt := range tests {
		for _, seg := range []int{0, len(segs) / 2, len(segs) - 1} {
			t.Run(tt.name+tt.ext, func(t *testing.T) {
				dir := t.TempDir()
				must(t, os.CopyFS(dir, os.DirFS(fixture)))
				base := filepath.Base(segs[seg])
				tt.damage(t, filepath.Join(dir, "t-0", base[:len(base)-len(logExt)]+tt.ext))
				checkRebuilt(t, dir, fx)
			})
		}
	}
}

func cutEntry(n int64) func(t *testing.T, path string) {
	return func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		must(t, err)
		must(t, os.Truncate(p, max(fi.Size()-n, 0)))
	}
}
