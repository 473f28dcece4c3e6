package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// txnBatch is a transactional batch of n records of producer id.
func txnBatch(id int64, epoch int16, seq int32, n, size int) []byte {
	return recordtest.Batch(recordtest.Options{Transactional: true, Producer: &recordtest.Producer{ID: id, Epoch: epoch, Sequence: seq}},
		recordtest.Values(n, size))
}

func mustMarker(t testing.TB, l *Log, id int64, epoch int16, commit bool) int64 {
	t.Helper()
	off, err := l.AppendMarker(context.Background(), TxnMarker{ProducerID: id, ProducerEpoch: epoch, Commit: commit}, AppendOptions{})
	if err != nil {
		t.Fatalf("AppendMarker(%d, commit %v): %v", id, commit, err)
	}
	return off
}

// checkLSO checks the last stable offset, both ways a caller sees it.
func checkLSO(t testing.TB, l *Log, want int64) {
	t.Helper()
	res, err := l.Read(l.LogStartOffset(), 1, false)
	must(t, err)
	res.Release()
	if got := l.LastStableOffset(); got != want || res.LastStableOffset != want {
		t.Fatalf("last stable offset %d (read says %d), want %d; high watermark %d", got, res.LastStableOffset, want, l.HighWatermark())
	}
}

// committedEnd reads with ReadCommitted from offset and returns the offset
// after the last batch it returned, and its aborted transactions.
func committedEnd(t testing.TB, l *Log, offset int64) (int64, []AbortedTxn) {
	t.Helper()
	res, err := l.ReadCommitted(offset, 1<<30, true)
	must(t, err)
	defer res.Release()
	next := offset
	for _, c := range res.Chunks {
		b, err := c.ReadAll()
		must(t, err)
		h, err := lastHeader(b)
		must(t, err)
		next = h.LastOffset() + 1
	}
	return next, res.AbortedTxns
}

func TestLastStableOffset(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, batchAt(0, 2, 0), false) // 0-1
	checkLSO(t, l, 2)
	mustAppend(t, l, txnBatch(1, 0, 0, 2, 8), false) // 2-3, producer 1 begins
	mustAppend(t, l, batchAt(1, 2, 0), false)        // 4-5
	mustAppend(t, l, txnBatch(2, 0, 0, 1, 8), false) // 6, producer 2 begins
	mustAppend(t, l, txnBatch(1, 0, 2, 1, 8), false) // 7
	checkLSO(t, l, 2)
	if end, aborted := committedEnd(t, l, 0); end != 2 || aborted != nil {
		t.Fatalf("read_committed during the transaction reads to %d, aborted %v", end, aborted)
	}
	if end, _ := committedEnd(t, l, 2); end != 2 {
		t.Fatalf("read_committed at the last stable offset reads to %d", end)
	}
	if off := mustMarker(t, l, 1, 0, true); off != 8 {
		t.Fatalf("commit marker at %d", off)
	}
	checkLSO(t, l, 6) // producer 2 still open
	if off := mustMarker(t, l, 2, 0, false); off != 9 {
		t.Fatalf("abort marker at %d", off)
	}
	checkLSO(t, l, 10)
	want := []AbortedTxn{{ProducerID: 2, FirstOffset: 6, LastOffset: 9, LastStableOffset: 10}}
	if end, aborted := committedEnd(t, l, 0); end != 10 || !reflect.DeepEqual(aborted, want) {
		t.Fatalf("read_committed reads to %d with aborted %v, want 10 and %v", end, aborted, want)
	}
	for _, r := range []struct {
		from, upper int64
		want        []AbortedTxn
	}{{0, 6, nil}, {0, 7, want}, {9, 10, want}, {10, 11, nil}} {
		if got := l.AbortedTxns(r.from, r.upper); !reflect.DeepEqual(got, r.want) {
			t.Errorf("AbortedTxns(%d, %d) = %v, want %v", r.from, r.upper, got, r.want)
		}
	}
	// An empty transaction (a marker with no data) changes nothing.
	mustMarker(t, l, 3, 0, false)
	checkLSO(t, l, 11)
	if got := l.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("empty transaction indexed: %v", got)
	}
}

// TestLastStableOffsetWaitsForReplication: with a high watermark set by
// replication, a transaction stays unstable until its marker is below it.
func TestLastStableOffsetWaitsForReplication(t *testing.T) {
	m := openManagerWith(t, t.TempDir(), nil, manualHW)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, batchAt(0, 2, 0), false)        // 0-1
	mustAppend(t, l, txnBatch(1, 0, 0, 2, 8), false) // 2-3
	checkLSO(t, l, 0)                                // high watermark 0
	l.SetHighWatermark(3)
	checkLSO(t, l, 2)
	mark := mustMarker(t, l, 1, 0, true) // 4
	l.SetHighWatermark(mark)
	checkLSO(t, l, 2) // the marker is not replicated yet
	l.SetHighWatermark(mark + 1)
	checkLSO(t, l, mark+1)
	if _, err := l.DeleteRecordsBefore(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(1, 0, 2, 1, 8), false) // 5, a new transaction
	l.SetHighWatermark(l.LogEndOffset())
	checkLSO(t, l, 5)
}

func TestTxnStateChecks(t *testing.T) {
	ctx := context.Background()
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, txnBatch(1, 2, 0, 1, 8), false)
	if _, err := l.Append(ctx, idemBatch(1, 2, 1, 1), AppendOptions{}); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch during a transaction: %v", err)
	}
	marker := func(epoch int16, coord int32, commit bool) error {
		_, err := l.AppendMarker(ctx, TxnMarker{ProducerID: 1, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coord}, AppendOptions{})
		return err
	}
	if err := marker(1, 0, true); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an older producer epoch: %v", err)
	}
	checkLSO(t, l, 0)
	// A coordinator that timed the transaction out aborts it with a bumped
	// epoch; it ends the transaction begun in the older one.
	if err := marker(3, 5, false); err != nil {
		t.Fatal(err)
	}
	checkLSO(t, l, 2)
	if got := l.AbortedTxns(0, 2); len(got) != 1 || got[0].FirstOffset != 0 || got[0].LastOffset != 1 {
		t.Fatalf("aborted %v", got)
	}
	if err := marker(3, 4, true); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker of an older coordinator: %v", err)
	}
	if _, err := l.Append(ctx, txnBatch(1, 2, 1, 1, 8), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("batch of the fenced epoch: %v", err)
	}
	mustAppend(t, l, txnBatch(1, 3, 0, 1, 8), false) // the new epoch starts at sequence 0
	checkLSO(t, l, 2)
	if _, err := l.AppendMarker(ctx, TxnMarker{ProducerID: 1, ProducerEpoch: 3, CoordinatorEpoch: 5}, AppendOptions{LeaderEpoch: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative leader epoch: %v", err)
	}
}

// txnScenario writes transactions over several segments: producer 1 runs
// one transaction through most of them and aborts it, producer 2 aborts two
// short ones (the second ends while producer 1's is open, so its entry's
// last stable offset is producer 1's first offset), producer 3 commits.
// It returns the offset of each marker, in order.
func txnScenario(t testing.TB, l *Log) []int64 {
	var marks []int64
	seq := map[int64]int32{}
	data := func(id int64) {
		mustAppend(t, l, txnBatch(id, 0, seq[id], 4, 100), false)
		seq[id] += 4
	}
	mustAppend(t, l, batchAt(0, 4, 0), false)
	data(2)
	marks = append(marks, mustMarker(t, l, 2, 0, false))
	data(1)
	for i := range 30 {
		data(1 + int64(i%3))
	}
	marks = append(marks, mustMarker(t, l, 2, 0, false))
	marks = append(marks, mustMarker(t, l, 3, 0, true))
	for range 20 {
		data(1)
	}
	marks = append(marks, mustMarker(t, l, 1, 0, false))
	mustAppend(t, l, batchAt(1, 4, 0), false)
	return marks
}

// txnIndexes returns every segment's transaction index, from memory and
// (checked to agree) from its file.
func txnIndexes(t testing.TB, l *Log) map[int64][]AbortedTxn {
	t.Helper()
	out := map[int64][]AbortedTxn{}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.segments {
		b, err := os.ReadFile(s.path(txnIndexExt))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		onDisk, err := decodeTxnIndex(b, s.base, s.st.next)
		if err != nil || len(onDisk) != len(s.st.aborted) || len(onDisk) > 0 && !reflect.DeepEqual(onDisk, s.st.aborted) {
			t.Fatalf("segment %d: transaction index file %v (%v) differs from memory %v", s.base, onDisk, err, s.st.aborted)
		}
		if len(onDisk) > 0 {
			out[s.base] = onDisk
		}
	}
	return out
}

func allAborted(idx map[int64][]AbortedTxn) []AbortedTxn {
	var bases []int64
	for b := range idx {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	var out []AbortedTxn
	for _, b := range bases {
		out = append(out, idx[b]...)
	}
	return out
}

func TestTxnIndexAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	marks := txnScenario(t, l)
	if n := len(l.mu.segments); n < 5 {
		t.Fatalf("scenario fits in %d segments", n)
	}
	idx := txnIndexes(t, l)
	all := allAborted(idx)
	p1 := all[len(all)-1]
	want := []AbortedTxn{
		{ProducerID: 2, FirstOffset: 4, LastOffset: marks[0], LastStableOffset: marks[0] + 1},
		{ProducerID: 2, FirstOffset: all[1].FirstOffset, LastOffset: marks[1], LastStableOffset: p1.FirstOffset},
		{ProducerID: 1, FirstOffset: marks[0] + 1, LastOffset: marks[3], LastStableOffset: marks[3] + 1},
	}
	if !reflect.DeepEqual(all, want) || len(idx) < 2 {
		t.Fatalf("transaction indexes %v, want %v in more than one segment", idx, want)
	}
	// Producer 1's entry lives with its marker, segments after its start:
	// a read_committed fetch from its start still gets it.
	if end, aborted := committedEnd(t, l, p1.FirstOffset); end <= p1.FirstOffset || !containsTxn(aborted, p1) {
		t.Fatalf("read_committed from %d: to %d, aborted %v", p1.FirstOffset, end, aborted)
	}
	// Reading everything from the start gets all three.
	var got []AbortedTxn
	for off := int64(0); off < l.LastStableOffset(); {
		next, aborted := committedEnd(t, l, off)
		for _, a := range aborted {
			if !containsTxn(got, a) {
				got = append(got, a)
			}
		}
		off = next
	}
	sort.Slice(got, func(i, j int) bool { return got[i].LastOffset < got[j].LastOffset })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read_committed over the log found %v, want %v", got, want)
	}

	for _, restart := range []struct {
		name  string
		clean bool
		hurt  func(t *testing.T, l *Log) // between closing and opening
	}{
		{name: "clean", clean: true},
		{name: "crash", clean: false},
		{name: "torn index, clean", clean: true, hurt: tearTxnIndex},
		{name: "torn index, crash", clean: false, hurt: tearTxnIndex},
		{name: "missing offset index", clean: false, hurt: func(t *testing.T, l *Log) {
			// A missing .index makes the segment be rebuilt, transaction index included.
			for base := range idx {
				must(t, os.Remove(filepath.Join(l.dir, segmentName(base, indexExt))))
				must(t, os.Remove(filepath.Join(l.dir, segmentName(base, txnIndexExt))))
			}
		}},
	} {
		if restart.clean {
			must(t, m.Close())
		} else {
			crash(t, m)
		}
		if restart.hurt != nil {
			restart.hurt(t, l)
		}
		m = openManager(t, dir, nil)
		l = m.Log("t", 0)
		if got := txnIndexes(t, l); !reflect.DeepEqual(got, idx) {
			t.Fatalf("%s restart: transaction indexes %v, want %v", restart.name, got, idx)
		}
		checkLSO(t, l, l.LogEndOffset())
	}
	must(t, m.Close())
}

func containsTxn(es []AbortedTxn, e AbortedTxn) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

// tearTxnIndex cuts the last bytes off every transaction index file.
func tearTxnIndex(t *testing.T, l *Log) {
	ents, err := os.ReadDir(l.dir)
	must(t, err)
	for _, e := range ents {
		if filepath.Ext(e.Name()) == txnIndexExt {
			fi, err := e.Info()
			must(t, err)
			must(t, os.Truncate(filepath.Join(l.dir, e.Name()), fi.Size()-5))
		}
	}
}

// TestTxnOpenAcrossRestart: an open transaction survives clean and unclean
// restarts (the snapshot carries it), and its marker after works.
func TestTxnOpenAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, batchAt(0, 2, 0), false)
	mustAppend(t, l, txnBatch(7, 0, 0, 2, 8), false) // 2-3
	must(t, m.Close())
	m = openManager(t, dir, nil)
	l = m.Log("t", 0)
	checkLSO(t, l, 2)
	mustAppend(t, l, txnBatch(7, 0, 2, 2, 8), true) // 4-5
	crash(t, m)
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	checkLSO(t, l, 2)
	mustMarker(t, l, 7, 0, false)
	checkLSO(t, l, 7)
	if got := l.AbortedTxns(0, 7); len(got) != 1 || got[0] != (AbortedTxn{7, 2, 6, 7}) {
		t.Fatalf("aborted %v", got)
	}
}

func TestTruncateReopensTxn(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	marks := txnScenario(t, l)
	ctx := context.Background()
	// Cut producer 1's ABORT (and what follows): its transaction is open again.
	end, err := l.TruncateTo(ctx, marks[3])
	if err != nil || end != marks[3] {
		t.Fatalf("TruncateTo: %d, %v", end, err)
	}
	all := allAborted(txnIndexes(t, l))
	if len(all) != 2 || all[1].LastOffset != marks[1] {
		t.Fatalf("after truncation: %v", all)
	}
	p1First := marks[0] + 1
	checkLSO(t, l, p1First)
	crash(t, m) // the truncation is durable, and so is what it reopened
	m = openManager(t, dir, nil)
	l = m.Log("t", 0)
	checkLSO(t, l, p1First)
	// Cut inside producer 2's second transaction too.
	if _, err := l.TruncateTo(ctx, marks[1]); err != nil {
		t.Fatal(err)
	}
	if all := allAborted(txnIndexes(t, l)); len(all) != 1 {
		t.Fatalf("after second truncation: %v", all)
	}
	checkLSO(t, l, p1First)
	must(t, m.Close())
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	checkLSO(t, l, p1First)
	if _, err := l.TruncateTo(ctx, p1First); err != nil {
		t.Fatal(err)
	}
	checkLSO(t, l, p1First) // nothing open below the cut
	if err := l.TruncateFullyAndStartAt(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	checkLSO(t, l, 1000)
}

// TestFollowerTxnState: a follower appending the leader's batches gets the
// same transaction indexes and last stable offset.
func TestFollowerTxnState(t *testing.T) {
	mLeader := openManager(t, t.TempDir(), nil)
	defer mLeader.Close()
	leader := createLog(t, mLeader, smallConfig())
	txnScenario(t, leader)
	mustAppend(t, leader, txnBatch(9, 0, 0, 1, 8), false) // left open
	fdir := t.TempDir()
	mFollower := openManagerWith(t, fdir, nil, manualHW)
	follower := createLog(t, mFollower, smallConfig())
	raw := readRaw(t, leader, 0)
	ctx := context.Background()
	for off := 0; off < len(raw); {
		n := 0 // several requests, each of up to 7 batches
		for i := 0; i < 7 && off+n < len(raw); i++ {
			n += mustHeader(t, raw[off+n:]).Size()
		}
		if _, err := follower.AppendAsFollower(ctx, raw[off:off+n], AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if got, want := allAborted(txnIndexes(t, follower)), allAborted(txnIndexes(t, leader)); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower's aborted transactions %v, leader's %v", got, want)
	}
	follower.SetHighWatermark(leader.HighWatermark())
	checkLSO(t, follower, leader.LastStableOffset())
	crash(t, mFollower)
	mFollower = openManagerWith(t, fdir, nil, manualHW)
	defer mFollower.Close()
	follower = mFollower.Log("t", 0)
	checkLSO(t, follower, 0) // the high watermark was not checkpointed
	follower.SetHighWatermark(leader.HighWatermark())
	checkLSO(t, follower, leader.LastStableOffset())
}

func TestSnapshotTxnFields(t *testing.T) {
	p := producers{
		1: {epoch: 2, coordEpoch: 4, txnFirst: 12, lastTime: 1700000000123, batches: []batchMeta{{0, 4, 10, 14}}},
		7: {epoch: 0, coordEpoch: -1, txnFirst: -1},
	}
	got, off, err := decodeSnapshot(p.encodeSnapshot(99))
	if err != nil || off != 99 || !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip: %v %d %+v", err, off, got)
	}
	if _, _, err := decodeSnapshot(p.encodeSnapshot(12)); err == nil {
		t.Fatal("snapshot with a transaction starting at its offset accepted")
	}
	// Version 1, as written before transactions: no transaction fields.
	be := binary.BigEndian
	v1 := append([]byte(snapshotMagic), 0, 1, 0, 0)
	v1 = be.AppendUint64(v1, 50)
	v1 = be.AppendUint32(v1, 1)
	v1 = be.AppendUint64(v1, 3)
	v1 = be.AppendUint16(v1, 5)
	v1 = be.AppendUint16(v1, 1)
	for _, x := range []uint32{0, 9} {
		v1 = be.AppendUint32(v1, x)
	}
	v1 = be.AppendUint64(v1, 20)
	v1 = be.AppendUint64(v1, 29)
	v1 = be.AppendUint32(v1, crc32.Checksum(v1, castagnoli))
	got, off, err = decodeSnapshot(v1)
	want := producers{3: {epoch: 5, coordEpoch: -1, txnFirst: -1, lastTime: -1, batches: []batchMeta{{0, 9, 20, 29}}}}
	if err != nil || off != 50 || !reflect.DeepEqual(got, want) {
		t.Fatalf("version 1: %v %d %+v", err, off, got)
	}
}

// TestCleanerKeepsTxnIndex: cleaning a compacted log never lets an aborted
// record supersede a committed one, and the rewritten segment keeps the
// transaction index entries of those it replaced.
func TestCleanerKeepsTxnIndex(t *testing.T) {
	dir := t.TempDir()
	m := openManagerWith(t, dir, nil, func(c *Config) { c.CleanerThreads = -1 })
	l := createLog(t, m, compactConfig())
	keyed := func(o recordtest.Options, k, v string) []byte {
		return recordtest.Batch(o, []record.Record{{Key: []byte(k), Value: []byte(v)}})
	}
	txn := func(seq int32) recordtest.Options {
		return recordtest.Options{Transactional: true, Producer: &recordtest.Producer{ID: 4, Sequence: seq}}
	}
	for i := range 60 {
		mustAppend(t, l, keyed(recordtest.Options{}, fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i)), false)
	}
	mustAppend(t, l, keyed(txn(0), "k0", "aborted"), false)
	mustMarker(t, l, 4, 0, false)
	mustAppend(t, l, keyed(txn(1), "k1", "committed"), false)
	mustMarker(t, l, 4, 0, true)
	mustAppend(t, l, keyed(txn(2), "k2", "open"), false) // stays open: nothing from here is cleaned
	for i := range 60 {
		mustAppend(t, l, keyed(recordtest.Options{}, fmt.Sprintf("x%d", i%5), "later"), false)
	}
	before := txnIndexes(t, l)
	if !m.cleaner.cleanOne(context.Background()) {
		t.Fatal("nothing cleaned")
	}
	if got := allAborted(txnIndexes(t, l)); !reflect.DeepEqual(got, allAborted(before)) || len(got) != 1 {
		t.Fatalf("after cleaning: %v, before %v", got, allAborted(before))
	}
	open := l.LastStableOffset()
	if l.mu.cleanedTo > open {
		t.Fatalf("cleaned to %d, past the open transaction at %d", l.mu.cleanedTo, open)
	}
	// Aborted data is still there for read_uncommitted; the committed
	// value of k0 survived it.
	table := logTable(t, l)
	if table["k0"] != "aborted" || table["k1"] != "committed" {
		t.Fatalf("table %v", table)
	}
	found := false
	for off := int64(0); off < open; {
		res, err := l.ReadCommitted(off, 1<<20, true)
		must(t, err)
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			for len(b) > 0 {
				h, recs, err := record.Records(b[:mustHeader(t, b).Size()])
				must(t, err)
				for _, r := range recs {
					found = found || string(r.Key) == "k0" && string(r.Value) == "v55"
				}
				off, b = h.LastOffset()+1, b[h.Size():]
			}
		}
		res.Release()
	}
	if !found {
		t.Fatal("the committed k0 was cleaned away by an aborted record")
	}
	must(t, m.Close())
	m = openManagerWith(t, dir, nil, func(c *Config) { c.CleanerThreads = -1 })
	defer m.Close()
	if got := allAborted(txnIndexes(t, m.Log("t", 0))); !reflect.DeepEqual(got, allAborted(before)) {
		t.Fatalf("after reopening: %v", got)
	}
}

// TestRetentionRemovesTxnIndex: a deleted segment takes its transaction
// index with it.
func TestRetentionRemovesTxnIndex(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	marks := txnScenario(t, l)
	idx := txnIndexes(t, l)
	start, err := l.DeleteRecordsBefore(context.Background(), marks[3]+1)
	if err != nil {
		t.Fatal(err)
	}
	m.deleter.close()
	for base := range idx {
		_, err := os.Stat(filepath.Join(l.dir, segmentName(base, txnIndexExt)))
		if kept := base >= l.mu.segments[0].base; kept != (err == nil) {
			t.Fatalf("segment %d (log start %d): transaction index stat %v", base, start, err)
		}
	}
}

// FuzzTxnIndex checks that decoding any bytes never panics and that what
// decodes encodes back to the same bytes.
func FuzzTxnIndex(f *testing.F) {
	f.Add(appendTxnEntries(nil, []AbortedTxn{{1, 5, 9, 10}, {2, 3, 12, 4}}))
	f.Add(make([]byte, txnEntrySize))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeTxnIndex(b, 0, 1<<40)
		if err != nil {
			return
		}
		if got := appendTxnEntries(nil, es); string(got) != string(b) {
			t.Fatalf("re-encoded %x, decoded from %x", got, b)
		}
	})
}

// TestTxnIndexDiskFull fails the transaction index write of an ABORT on a
// full disk: nothing of the group stays (the torn entry is cut off, the
// transaction is still open), and the retry writes it once.
func TestTxnIndexDiskFull(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	dir := t.TempDir()
	m := openManager(t, dir, clock)
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, txnBatch(1, 0, 0, 1, 8), false)
	mustMarker(t, l, 1, 0, false) // the file exists, with one entry
	mustAppend(t, l, txnBatch(1, 0, 1, 1, 8), false)
	end := l.LogEndOffset()
	clear := injectFaults(t, faultRule{op: opIndexWrite, path: txnIndexExt, fault: fault{err: syscall.ENOSPC, torn: 20}})
	_, err := l.AppendMarker(context.Background(), TxnMarker{ProducerID: 1}, AppendOptions{Sync: true})
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("marker on a full disk: %v", err)
	}
	checkLSO(t, l, end-1)
	clear()
	clock.advance(DiskFullBackoff)
	if off := mustMarker(t, l, 1, 0, false); off != end {
		t.Fatalf("retried marker at %d, want %d", off, end)
	}
	want := []AbortedTxn{{1, 0, 1, 2}, {1, 2, 3, 4}}
	if got := allAborted(txnIndexes(t, l)); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted %v, want %v", got, want)
	}
	crash(t, m)
	m = openManager(t, dir, clock)
	defer m.Close()
	if got := allAborted(txnIndexes(t, m.Log("t", 0))); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening: %v, want %v", got, want)
	}
}
