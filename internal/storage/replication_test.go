package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func manualHW(c *Config) { c.ManualHighWatermark = true; c.VerifyBytesPerSecond = -1 }

func appendEpoch(t testing.TB, l *Log, b []byte, epoch int32) AppendResult {
	t.Helper()
	res, err := l.Append(context.Background(), b, AppendOptions{LeaderEpoch: epoch})
	if err != nil {
		t.Fatalf("Append at epoch %d: %v", epoch, err)
	}
	return res
}

// readRaw returns the bytes of every batch from offset to the log end.
func readRaw(t testing.TB, l *Log, offset int64) []byte {
	t.Helper()
	var out []byte
	for {
		res, err := l.ReadReplica(offset, 1<<20, true)
		if err != nil {
			t.Fatalf("ReadReplica(%d): %v", offset, err)
		}
		if len(res.Chunks) == 0 {
			return out
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			out = append(out, b...)
		}
		res.Release()
		h, err := lastHeader(out)
		must(t, err)
		offset = h.LastOffset() + 1
	}
}

func lastHeader(b []byte) (record.BatchHeader, error) {
	var h record.BatchHeader
	for len(b) > 0 {
		var err error
		if h, err = record.ParseHeader(b); err != nil {
			return h, err
		}
		b = b[h.Size():]
	}
	return h, nil
}

func epochsOf(t testing.TB, l *Log) epochList {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.mu.epochs)
}

func TestEpochListEndOffsetFor(t *testing.T) {
	el := epochList{{1, 10}, {3, 20}, {5, 30}}
	for _, tc := range []struct {
		el        epochList
		req       int32
		wantEpoch int32
		wantEnd   int64
	}{
		{el, 5, 5, 40},  // the latest epoch ends at the log end
		{el, 3, 3, 30},  // an older one where the next starts
		{el, 4, 3, 30},  // an unknown one: the largest below it
		{el, 2, 1, 20},  //
		{el, 1, 1, 20},  //
		{el, 0, 0, 10},  // below every entry: Kafka answers the first start
		{el, 6, -1, -1}, // above the latest
		{el, -1, -1, -1},
		{nil, 0, -1, -1},
		{epochList{{0, 0}}, 0, 0, 40},
	} {
		e, off := tc.el.endOffsetFor(tc.req, 40)
		if e != tc.wantEpoch || off != tc.wantEnd {
			t.Errorf("%v endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.el, tc.req, e, off, tc.wantEpoch, tc.wantEnd)
		}
	}
}

func TestEpochListChanges(t *testing.T) {
	el := epochList{{1, 10}, {3, 20}, {5, 30}}
	for _, tc := range []struct {
		name string
		got  epochList
		want epochList
	}{
		{"assign new", el.assign(6, 40), epochList{{1, 10}, {3, 20}, {5, 30}, {6, 40}}},
		{"assign old ignored", el.assign(4, 40), el},
		{"assign same ignored", el.assign(5, 40), el},
		{"assign replaces empty epoch", el.assign(6, 30), epochList{{1, 10}, {3, 20}, {6, 30}}},
		{"assign to empty", epochList(nil).assign(0, 7), epochList{{0, 7}}},
		{"truncate end mid", el.truncateFromEnd(25), epochList{{1, 10}, {3, 20}}},
		{"truncate end at start", el.truncateFromEnd(20), epochList{{1, 10}}},
		{"truncate end past", el.truncateFromEnd(99), el},
		{"truncate end all", el.truncateFromEnd(10), epochList{}},
		{"fold start mid", el.truncateFromStart(25), epochList{{3, 25}, {5, 30}}},
		{"fold start at entry", el.truncateFromStart(20), epochList{{3, 20}, {5, 30}}},
		{"fold start below", el.truncateFromStart(5), el},
		{"fold start past", el.truncateFromStart(50), epochList{{5, 50}}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !slices.Equal(el, epochList{{1, 10}, {3, 20}, {5, 30}}) {
		t.Fatalf("changes modified the list in place: %v", el)
	}
}

func TestEpochCheckpointCodec(t *testing.T) {
	for _, el := range []epochList{nil, {{0, 0}}, {{1, 10}, {3, 20}, {5, 30}}} {
		got, err := decodeEpochs(el.encode())
		if err != nil || len(got) != len(el) || !slices.Equal(got, el) && len(el) > 0 {
			t.Fatalf("round trip of %v: %v, %v", el, got, err)
		}
	}
	good := epochList{{1, 10}, {3, 20}}.encode()
	for name, b := range map[string][]byte{
		"truncated":    good[:len(good)-1],
		"crc":          append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1),
		"out of order": epochList{{3, 10}, {1, 20}}.encode(),
		"same start":   epochList{{1, 10}, {3, 10}}.encode(),
		"negative":     epochList{{-2, 10}}.encode(),
		"empty":        nil,
	} {
		if _, err := decodeEpochs(b); !errors.Is(err, errCorruptFile) {
			t.Errorf("%s: decode error %v, want errCorruptFile", name, err)
		}
	}
}

// Batches carry the leader epoch they were appended at; the cache follows
// them, survives a clean reopen, and is rebuilt when its file is lost or
// damaged.
func TestLeaderEpochCache(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	var starts []int64
	for i, e := range []int32{0, 0, 3, 3, 3, 7} {
		res := appendEpoch(t, l, batchAt(i, 3, int64(i)), e)
		starts = append(starts, res.BaseOffset)
	}
	want := epochList{{0, 0}, {3, starts[2]}, {7, starts[5]}}
	check := func(l *Log) {
		t.Helper()
		if got := epochsOf(t, l); !slices.Equal(got, want) {
			t.Fatalf("epoch cache %v, want %v", got, want)
		}
		if e, ok := l.LatestEpoch(); e != 7 || !ok {
			t.Fatalf("LatestEpoch = %d, %v", e, ok)
		}
		if off, ok := l.EpochStartOffset(3); off != starts[2] || !ok {
			t.Fatalf("EpochStartOffset(3) = %d, %v", off, ok)
		}
		if e, off := l.EndOffsetForEpoch(5); e != 3 || off != starts[5] {
			t.Fatalf("EndOffsetForEpoch(5) = %d, %d", e, off)
		}
		hs := readBatches(t, l, 0)
		for i, h := range hs {
			if wantE := []int32{0, 0, 3, 3, 3, 7}[i]; h.PartitionLeaderEpoch != wantE {
				t.Fatalf("batch %d has epoch %d, want %d", i, h.PartitionLeaderEpoch, wantE)
			}
		}
	}
	check(l)
	if _, err := l.Append(context.Background(), batchAt(9, 1, 9), AppendOptions{LeaderEpoch: 6}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("append at an older epoch: %v", err)
	}
	must(t, m.Close())
	for _, damage := range []func(path string){
		func(string) {},
		func(p string) { must(t, os.WriteFile(p, []byte("junk"), 0o644)) },
		func(p string) { must(t, os.Remove(p)) },
	} {
		damage(filepath.Join(dir, "t-0", epochFile))
		m = openManager(t, dir, nil)
		check(m.Log("t", 0))
		must(t, m.Close())
	}
}

// DeleteRecords folds the entries below the new log start into one.
func TestLeaderEpochFoldOnDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i, e := range []int32{1, 2, 4} {
		appendEpoch(t, l, batchAt(i, 4, int64(i)), e)
	}
	_, err := l.DeleteRecordsBefore(context.Background(), 6)
	must(t, err)
	want := epochList{{2, 6}, {4, 8}}
	if got := epochsOf(t, l); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v, want %v", got, want)
	}
	crash(t, m)
	m = openManager(t, dir, nil)
	defer m.Close()
	if got := epochsOf(t, m.Log("t", 0)); !slices.Equal(got, want) {
		t.Fatalf("epoch cache after reopen %v, want %v", got, want)
	}
}

// A follower keeps the leader's bytes: offsets, timestamps and epochs.
func TestAppendAsFollower(t *testing.T) {
	mLeader := openManager(t, t.TempDir(), nil)
	defer mLeader.Close()
	leader := createLog(t, mLeader, smallConfig())
	lc := smallConfig()
	lc.TimestampType = LogAppendTime // must not restamp the leader's batches
	mFollower := openManager(t, t.TempDir(), nil)
	defer mFollower.Close()
	follower := createLog(t, mFollower, lc)
	for i := range 30 {
		appendEpoch(t, leader, batchAt(i, 2, int64(i)), int32(i/10))
	}
	raw := readRaw(t, leader, 0)
	half := batchEnd(t, raw, 15)
	ctx := context.Background()
	res, err := follower.AppendAsFollower(ctx, raw[:half], AppendOptions{})
	if err != nil || res.BaseOffset != 0 {
		t.Fatalf("AppendAsFollower: %+v, %v", res, err)
	}
	// A retry of the same batches overlaps; a later chunk leaves a gap.
	if _, err := follower.AppendAsFollower(ctx, raw[:half], AppendOptions{}); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("overlap: %v", err)
	}
	gap := batchEnd(t, raw, 16)
	if _, err := follower.AppendAsFollower(ctx, raw[gap:], AppendOptions{}); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("gap: %v", err)
	}
	if _, err := follower.AppendAsFollower(ctx, concat(raw[half:gap], raw[batchEnd(t, raw, 17):]), AppendOptions{}); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("gap inside the request: %v", err)
	}
	if _, err := follower.AppendAsFollower(ctx, raw[half:], AppendOptions{Sync: true}); err != nil {
		t.Fatalf("AppendAsFollower: %v", err)
	}
	if got := readRaw(t, follower, 0); !bytes.Equal(got, raw) {
		t.Fatal("follower bytes differ from the leader's")
	}
	if !slices.Equal(epochsOf(t, follower), epochsOf(t, leader)) {
		t.Fatalf("epoch caches differ: %v vs %v", epochsOf(t, follower), epochsOf(t, leader))
	}
	if follower.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("log end offsets differ")
	}
	stale := batchAt(99, 1, 99)
	record.SetBaseOffset(stale, follower.LogEndOffset())
	if _, err := follower.AppendAsFollower(ctx, stale, AppendOptions{}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("batch of an older epoch: %v", err)
	}
}

// batchEnd returns the position after the first n batches of b.
func batchEnd(t testing.TB, b []byte, n int) int {
	t.Helper()
	pos := 0
	for range n {
		h, err := record.ParseHeader(b[pos:])
		must(t, err)
		pos += h.Size()
	}
	return pos
}

// TruncateTo cuts the log anywhere; appends continue from the new end and
// a reopen (clean or after a crash) finds the same log.
func TestTruncateTo(t *testing.T) {
	// 40 batches of 2 records (offsets 2i, 2i+1), about 8 per segment.
	for _, tc := range []struct {
		name    string
		offset  int64
		wantEnd int64
	}{
		{"middle of the active segment", 76, 76},
		{"inside a batch", 77, 76},
		{"end of the log", 80, 80},
		{"past the end", 99, 80},
		{"middle of a closed segment", 30, 30},
		{"across several segments", 4, 4},
		{"to the start", 0, 0},
	} {
		for _, shutdown := range []string{"clean", "crash"} {
			t.Run(tc.name+"/"+shutdown, func(t *testing.T) {
				testTruncateTo(t, tc.offset, tc.wantEnd, shutdown == "crash")
			})
		}
	}
}

func testTruncateTo(t *testing.T, offset, wantEnd int64, crashAfter bool) {
	dir := t.TempDir()
	m := openManagerWith(t, dir, nil, manualHW)
	l := createLog(t, m, smallConfig())
	for i := range 40 {
		appendEpoch(t, l, batchAt(i, 2, int64(i)), int32(i/8))
	}
	l.SetHighWatermark(60)
	end, err := l.TruncateTo(context.Background(), offset)
	if err != nil || end != wantEnd || l.LogEndOffset() != wantEnd {
		t.Fatalf("TruncateTo(%d) = %d, %v; log end %d, want %d", offset, end, err, l.LogEndOffset(), wantEnd)
	}
	if hw := l.HighWatermark(); hw != min(60, wantEnd) {
		t.Fatalf("high watermark %d after truncation to %d", hw, wantEnd)
	}
	if e, _ := l.LatestEpoch(); wantEnd > 0 && e != int32((wantEnd-1)/16) {
		t.Fatalf("latest epoch %d at end %d", e, wantEnd)
	}
	res := appendEpoch(t, l, batchAt(50, 2, 50), 9)
	if res.BaseOffset != wantEnd {
		t.Fatalf("append after truncation at %d, want %d", res.BaseOffset, wantEnd)
	}
	want := readRaw(t, l, 0)
	wantEpochs := epochsOf(t, l)
	if hs := readBatchesReplica(t, want); int64(len(hs)) != wantEnd/2+1 {
		t.Fatalf("%d batches after truncation to %d", len(hs), wantEnd)
	}
	if crashAfter {
		crash(t, m)
	} else {
		must(t, m.Close())
	}
	m = openManagerWith(t, dir, nil, manualHW)
	defer m.Close()
	l = m.Log("t", 0)
	if got := readRaw(t, l, 0); !bytes.Equal(got, want) {
		t.Fatalf("log differs after reopen: %d bytes, want %d", len(got), len(want))
	}
	if got := epochsOf(t, l); !slices.Equal(got, wantEpochs) {
		t.Fatalf("epoch cache after reopen %v, want %v", got, wantEpochs)
	}
	if l.Offline() != nil {
		t.Fatal(l.Offline())
	}
	if res := appendEpoch(t, l, batchAt(51, 2, 51), 9); res.BaseOffset != wantEnd+2 {
		t.Fatalf("append after reopen at %d", res.BaseOffset)
	}
}

func readBatchesReplica(t testing.TB, b []byte) []record.BatchHeader {
	t.Helper()
	var hs []record.BatchHeader
	var next int64
	for len(b) > 0 {
		h, err := record.Validate(b[:min(len(b), int(must1(record.ParseHeader(b)).Size()))])
		if err != nil || h.BaseOffset != next {
			t.Fatalf("batch at %d: %v (expected offset %d)", h.BaseOffset, err, next)
		}
		hs = append(hs, h)
		next = h.LastOffset() + 1
		b = b[h.Size():]
	}
	return hs
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTruncateToBelowLogStart(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	for i := range 10 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	_, err := l.DeleteRecordsBefore(context.Background(), 6)
	must(t, err)
	if _, err := l.TruncateTo(context.Background(), 4); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate below the log start: %v", err)
	}
	if end, err := l.TruncateTo(context.Background(), 6); err != nil || end != 6 {
		t.Fatalf("truncate to the log start: %d, %v", end, err)
	}
}

// After a truncation, a retry of a batch that was cut is appended again,
// and one below the cut is still a duplicate.
func TestTruncateProducerState(t *testing.T) {
	for _, clean := range []bool{false, true} {
		dir := t.TempDir()
		m := openManager(t, dir, nil)
		l := createLog(t, m, smallConfig())
		batch := func(seq int32) []byte {
			return recordtest.Batch(recordtest.Options{Producer: &recordtest.Producer{ID: 7, Epoch: 0, Sequence: seq}}, recordtest.Values(2, 10))
		}
		var offs []int64
		for seq := int32(0); seq < 8; seq += 2 {
			offs = append(offs, mustAppend(t, l, batch(seq), false).BaseOffset)
		}
		if clean { // the producer snapshot is then at the log end, above the cut
			must(t, m.Close())
			m = openManager(t, dir, nil)
			l = m.Log("t", 0)
		}
		if _, err := l.TruncateTo(context.Background(), offs[2]); err != nil {
			t.Fatal(err)
		}
		if res := mustAppend(t, l, batch(2), false); !res.Duplicate || res.BaseOffset != offs[1] {
			t.Fatalf("retry below the cut: %+v, want a duplicate at %d", res, offs[1])
		}
		if res := mustAppend(t, l, batch(4), false); res.Duplicate || res.BaseOffset != offs[2] {
			t.Fatalf("retry of a cut batch: %+v, want a new append at %d", res, offs[2])
		}
		if _, err := l.Append(context.Background(), batch(8), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("sequence after the truncated state: %v", err)
		}
		crash(t, m)
		m = openManager(t, dir, nil)
		if res := mustAppend(t, m.Log("t", 0), batch(4), false); !res.Duplicate || res.BaseOffset != offs[2] {
			t.Fatalf("after reopen: %+v", res)
		}
		must(t, m.Close())
	}
}

// The high watermark is set, never passes the log end, bounds Read but not
// ReadReplica, and survives a reopen.
func TestHighWatermark(t *testing.T) {
	dir := t.TempDir()
	m := openManagerWith(t, dir, nil, manualHW)
	l := createLog(t, m, smallConfig())
	for i := range 20 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("initial high watermark %d", hw)
	}
	ch := l.Changed()
	for _, step := range []struct{ set, want int64 }{{10, 10}, {6, 10}, {99, 40}, {40, 40}} {
		if hw := l.SetHighWatermark(step.set); hw != step.want {
			t.Fatalf("SetHighWatermark(%d) = %d, want %d", step.set, hw, step.want)
		}
	}
	select {
	case <-ch:
	default:
		t.Fatal("raising the high watermark did not wake long polls")
	}
	l.mu.Lock()
	l.mu.hw = 10
	l.mu.Unlock()
	if hs := readBatches(t, l, 0); len(hs) != 5 || hs[4].LastOffset() != 9 {
		t.Fatalf("Read past the high watermark: %d batches", len(hs))
	}
	if res, err := l.Read(20, 1<<20, true); err != nil || len(res.Chunks) != 0 || res.HighWatermark != 10 {
		t.Fatalf("Read between the high watermark and the end: %+v, %v", res, err)
	}
	if _, err := l.Read(41, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read past the end: %v", err)
	}
	if hs := readBatchesReplica(t, readRaw(t, l, 0)); len(hs) != 20 {
		t.Fatalf("ReadReplica read %d batches", len(hs))
	}
	if _, err := l.DeleteRecordsBefore(context.Background(), 12); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords past the high watermark: %v", err)
	}
	l.SetHighWatermark(30)
	must(t, m.Close())
	m = openManagerWith(t, dir, nil, manualHW)
	l = m.Log("t", 0)
	if hw := l.HighWatermark(); hw != 30 {
		t.Fatalf("high watermark after reopen %d", hw)
	}
	// The checkpoint loop persists it too, for a crash.
	l.SetHighWatermark(34)
	m.checkpointAll()
	l.SetHighWatermark(38)
	crash(t, m)
	m = openManagerWith(t, dir, nil, manualHW)
	if hw := m.Log("t", 0).HighWatermark(); hw != 34 {
		t.Fatalf("high watermark after a crash %d, want the checkpointed 34", hw)
	}
	must(t, m.Close())
	// Without ManualHighWatermark it is the log end, as on a single node.
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	if hw := l.SetHighWatermark(3); hw != 40 || l.HighWatermark() != 40 {
		t.Fatalf("automatic high watermark %d", hw)
	}
	if _, err := os.Stat(filepath.Join(dir, "t-0", hwFile)); err != nil {
		t.Fatalf("high watermark file: %v", err)
	}
}

// Readers racing with truncations and appends get whole valid batches or
// ErrLogTruncated; the log never goes offline.
func TestTruncateConcurrentReaders(t *testing.T) {
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				off := int64((i * 7 * (r + 1)) % 80)
				// Counted before the read: a truncation that cuts the
				// chunk's bytes has bumped the count by the time they fail.
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
		}()
	}
	for i := range 30 {
		if _, err := l.TruncateTo(ctx, int64(80-2*(i%7)-i%2)); err != nil {
			t.Fatal(err)
		}
		for l.LogEndOffset() < 80 {
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
	readBatches(t, l, 0)
}

func truncations(l *Log) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.truncations
}

func validateAll(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return n, err
		}
		if h.Size() > len(b) {
			return n, record.ErrInvalid
		}
		if _, err := record.Validate(b[:h.Size()]); err != nil {
			return n, err
		}
		b = b[h.Size():]
		n++
	}
	return n, nil
}

// A cleaning planned before a truncation does not swap in segments built
// from the batches it cut; the next cleaning works on the truncated log.
func TestTruncateAbortsCleaning(t *testing.T) {
	m := openManagerWith(t, t.TempDir(), nil, func(c *Config) { c.CleanerThreads = -1 })
	defer m.Close()
	lc := compactConfig()
	lc.SegmentBytes = 2 << 10
	l := createLog(t, m, lc)
	appendUpdates(t, l, 300, 17)
	p, ok := l.planClean(m.now())
	if !ok {
		t.Fatal("nothing to clean")
	}
	ctx := context.Background()
	end, err := l.TruncateTo(ctx, 150)
	must(t, err)
	want := map[string]string{}
	for i := range int(end) {
		want[fmt.Sprintf("k%03d", i%17)] = fmt.Sprintf("v%05d", i)
	}
	if _, err := l.clean(ctx, m.cleaner, p); !errors.Is(err, errCleanAborted) {
		t.Fatalf("stale cleaning: %v", err)
	}
	if got := logTable(t, l); !maps.Equal(got, want) {
		t.Fatalf("table after the aborted cleaning\n%s\nwant\n%s", formatTable(got), formatTable(want))
	}
	must(t, l.requestRoll(ctx))
	if !m.cleaner.cleanOne(ctx) {
		t.Fatal("nothing cleaned after the truncation")
	}
	if got := logTable(t, l); !maps.Equal(got, want) {
		t.Fatalf("table after cleaning\n%s\nwant\n%s", formatTable(got), formatTable(want))
	}
}

// The epoch file is written before a new epoch's batches: after a crash it
// may be ahead of the log, and opening cuts it. A single node's log (epoch
// 0 only) without the file gets its one entry without a scan or a write.
func TestLeaderEpochFileAheadOrMissing(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	for i := range 5 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	crash(t, m)
	path := filepath.Join(dir, "t-0", epochFile)
	must(t, writeEpochs(filepath.Dir(path), epochList{{0, 0}, {4, 10}}))
	m = openManager(t, dir, nil)
	l = m.Log("t", 0)
	if got := epochsOf(t, l); !slices.Equal(got, epochList{{0, 0}}) {
		t.Fatalf("epoch cache %v, want the entry past the log end cut", got)
	}
	appendEpoch(t, l, batchAt(5, 2, 5), 2)
	if got := epochsOf(t, l); !slices.Equal(got, epochList{{0, 0}, {2, 10}}) {
		t.Fatalf("epoch cache after a new epoch %v", got)
	}
	must(t, m.Close())

	dir = t.TempDir()
	m = openManager(t, dir, nil)
	l = createLog(t, m, smallConfig())
	for i := range 5 {
		mustAppend(t, l, batchAt(i, 2, int64(i)), false)
	}
	must(t, m.Close())
	must(t, os.Remove(filepath.Join(dir, "t-0", epochFile)))
	m = openManager(t, dir, nil)
	defer m.Close()
	if got := epochsOf(t, m.Log("t", 0)); !slices.Equal(got, epochList{{0, 0}}) {
		t.Fatalf("epoch cache of an epoch-0 log without its file: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "t-0", epochFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening wrote the epoch file of an epoch-0 log: %v", err)
	}
}
