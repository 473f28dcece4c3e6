package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// marker runs the golden command "marker producer=ID commit|abort".
func (h *cleanerHarness) marker(td *datadriven.TestData) string {
	var id int64
	td.ScanArgs(h.t, "producer", &id)
	m := TxnMarker{ProducerID: id, Commit: td.HasArg("commit")}
	if m.Commit == td.HasArg("abort") {
		h.t.Fatalf("marker needs one of commit and abort")
	}
	off, err := h.l.AppendMarker(context.Background(), m, AppendOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("offset %d", off)
}

// formatMarker names the marker a control batch holds.
func formatMarker(t testing.TB, b []byte) string {
	m, ok, err := record.ParseEndTxnMarker(b)
	switch {
	case err != nil:
		t.Fatalf("control batch: %v", err)
	case !ok:
		return "control"
	case m.Commit:
		return "COMMIT"
	}
	return "ABORT"
}

func formatTxnIndex(idx map[int64][]AbortedTxn) string {
	var sb strings.Builder
	bases := make([]int64, 0, len(idx))
	for b := range idx {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	for _, b := range bases {
		for _, e := range idx[b] {
			fmt.Fprintf(&sb, "segment %d: producer %d first %d marker %d lso %d\n", b, e.ProducerID, e.FirstOffset, e.LastOffset, e.LastStableOffset)
		}
	}
	if sb.Len() == 0 {
		return "empty\n"
	}
	return sb.String()
}

// committedTable reads the log with ReadCommitted as a read_committed
// consumer does (Kafka's Fetcher): it skips the transactional batches of
// a producer from the first offset of an aborted transaction the read
// returned until that producer's ABORT marker. It returns the latest
// value per key, tombstones deleting.
func committedTable(t testing.TB, l *Log) map[string]string {
	t.Helper()
	table := map[string]string{}
	for off := l.LogStartOffset(); off < l.LastStableOffset(); {
		res, err := l.ReadCommitted(off, 1<<20, true)
		must(t, err)
		if len(res.Chunks) == 0 {
			res.Release()
			break
		}
		pending := slices.Clone(res.AbortedTxns)
		sort.Slice(pending, func(i, j int) bool { return pending[i].FirstOffset < pending[j].FirstOffset })
		skipping := map[int64]bool{}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			for len(b) > 0 {
				bb := b[:mustHeader(t, b).Size()]
				h, recs, err := record.Records(bb)
				must(t, err)
				for len(pending) > 0 && pending[0].FirstOffset <= h.LastOffset() {
					skipping[pending[0].ProducerID] = true
					pending = pending[1:]
				}
				switch {
				case h.IsControl():
					if m, ok, err := record.ParseEndTxnMarker(bb); err == nil && ok && !m.Commit {
						delete(skipping, h.ProducerID)
					}
				case h.IsTransactional() && skipping[h.ProducerID]:
				default:
					for _, r := range recs {
						if r.Value == nil {
							delete(table, string(r.Key))
						} else {
							table[string(r.Key)] = string(r.Value)
						}
					}
				}
				off, b = h.LastOffset()+1, b[h.Size():]
			}
		}
		res.Release()
	}
	return table
}

// txnModel is what a random workload wrote: every data record by offset,
// the fate of each transaction, and each producer's state.
type txnModel struct {
	recs  map[int64]modelRec
	fate  map[int]string // transaction → "open", "commit" or "abort"
	prods map[int64]*modelProducer
	txns  int
}

type modelRec struct {
	key, value string
	producer   int64
	txn        int // 0: not transactional
}

type modelProducer struct {
	seq   int32
	txn   int   // open transaction, 0 if none
	first int64 // its first offset
}

// aborted says whether the record at off belongs to an aborted transaction.
func (m *txnModel) aborted(r modelRec) bool { return r.txn != 0 && m.fate[r.txn] == "abort" }

// lso is the first offset of the earliest open transaction, or end.
func (m *txnModel) lso(end int64) int64 {
	for _, p := range m.prods {
		if p.txn != 0 {
			end = min(end, p.first)
		}
	}
	return end
}

// TestCleanerTxnRandom runs random workloads of plain writes, interleaved
// transactions of three producers (committed, aborted, empty), rolls,
// cleanings with the clock moving past delete.retention.ms, clean closes
// and crashes, and checks after each step that: read_committed reads the
// latest committed value of every key; below the cleaned offset
// read_uncommitted sees no aborted record and exactly the latest
// non-aborted record of each key, at its original offset; the last stable
// offset after a crash is where the model says; and producers go on with
// their sequences. At the end, with every transaction decided, the
// cleaner leaves no marker without data except a producer's last batch.
func TestCleanerTxnRandom(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runTxnWorkload(t, seed) })
	}
}

func runTxnWorkload(t *testing.T, seed uint64) {
	h := &cleanerHarness{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.UnixMilli(clockStart)}}
	h.lc = compactConfig()
	h.lc.DeleteRetentionMs = 1000
	h.open()
	defer func() { h.m.Close() }()
	rng := rand.New(rand.NewPCG(seed, 7))
	m := &txnModel{recs: map[int64]modelRec{}, fate: map[int]string{}, prods: map[int64]*modelProducer{}}
	for id := range int64(3) {
		m.prods[id+1] = &modelProducer{}
	}
	for step := range 400 {
		switch n := rng.IntN(100); {
		case n < 30:
			h.writeRandom(m, rng, 0)
		case n < 55:
			h.writeRandom(m, rng, 1+rng.Int64N(3))
		case n < 70:
			h.endRandom(m, rng, 1+rng.Int64N(3))
		case n < 78:
			must(t, h.l.requestRoll(context.Background()))
		case n < 95:
			h.clock.advance(time.Duration(rng.IntN(700)) * time.Millisecond)
			h.m.cleaner.cleanOne(context.Background())
			checkCleanedTxnLog(t, h.l, m)
		case n < 98:
			h.crash(rng.IntN(2) == 0)
			checkCleanedTxnLog(t, h.l, m)
		default:
			must(t, h.m.Close())
			h.open()
		}
		if t.Failed() {
			t.Fatalf("seed %d step %d", seed, step)
		}
	}
	// Decide every transaction, close cleanly (the snapshot then holds
	// none open), and clean until the markers' horizons have passed.
	for id := range int64(3) {
		if m.prods[id+1].txn != 0 {
			h.endRandom(m, rng, id+1)
		}
	}
	must(t, h.m.Close())
	h.open()
	for range 3 {
		h.writeRandom(m, rng, 0)
		must(t, h.l.requestRoll(context.Background()))
		h.clock.advance(2 * time.Second)
		if !h.m.cleaner.cleanOne(context.Background()) {
			t.Fatal("nothing to clean")
		}
		checkCleanedTxnLog(t, h.l, m)
	}
	if c, end := cleanedTo(h.l), h.l.LogEndOffset(); c < end-3 {
		t.Fatalf("cleaned to %d of %d", c, end)
	}
	aborted := 0
	for _, f := range m.fate {
		if f == "abort" {
			aborted++
		}
	}
	if aborted == 0 {
		t.Fatal("the workload aborted no transaction")
	}
	checkMarkersNeeded(t, h.l)
	// Producer state rebuilt from the whole cleaned log has every
	// transaction closed, and each producer goes on with its sequence.
	h.crash(true)
	checkCleanedTxnLog(t, h.l, m)
	for id := range int64(3) {
		h.writeRandom(m, rng, id+1)
		h.endRandom(m, rng, id+1)
	}
	checkCleanedTxnLog(t, h.l, m)
}

// crash stops the manager as kill -9 would and opens it again; without
// the producer snapshot (as if it were damaged), producer state is
// rebuilt from the whole log.
func (h *cleanerHarness) crash(dropSnapshot bool) {
	crash(h.t, h.m)
	if dropSnapshot {
		err := os.Remove(filepath.Join(h.dir, partitionDirName("t", 0), snapshotFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			h.t.Fatal(err)
		}
	}
	h.open()
}

// writeRandom appends one batch of 1-3 records with distinct keys: plain
// (producer 0) or in the producer's transaction.
func (h *cleanerHarness) writeRandom(m *txnModel, rng *rand.Rand, producer int64) {
	n := 1 + rng.IntN(3)
	keys := rng.Perm(8)[:n]
	var recs []record.Record
	for i, k := range keys {
		recs = append(recs, record.Record{OffsetDelta: int32(i), Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "v%d", rng.Int())})
	}
	o := recordtest.Options{BaseTimestamp: h.clock.now().UnixMilli()}
	var p *modelProducer
	if producer > 0 {
		p = m.prods[producer]
		o.Producer = &recordtest.Producer{ID: producer, Sequence: p.seq}
		o.Transactional = true
	}
	res, err := h.l.Append(context.Background(), recordtest.Batch(o, recs), AppendOptions{})
	if err != nil {
		h.t.Fatalf("append for producer %d: %v", producer, err)
	}
	txn := 0
	if p != nil {
		p.seq += int32(n)
		if p.txn == 0 {
			m.txns++
			p.txn, p.first = m.txns, res.BaseOffset
			m.fate[p.txn] = "open"
		}
		txn = p.txn
	}
	for i, r := range recs {
		m.recs[res.BaseOffset+int64(i)] = modelRec{key: string(r.Key), value: string(r.Value), producer: producer, txn: txn}
	}
}

// endRandom commits or aborts the producer's transaction (an empty one
// if none is open).
func (h *cleanerHarness) endRandom(m *txnModel, rng *rand.Rand, producer int64) {
	commit := rng.IntN(5) < 3
	if _, err := h.l.AppendMarker(context.Background(), TxnMarker{ProducerID: producer, Commit: commit}, AppendOptions{}); err != nil {
		h.t.Fatalf("marker for producer %d: %v", producer, err)
	}
	p := m.prods[producer]
	if p.txn != 0 {
		m.fate[p.txn] = map[bool]string{true: "commit", false: "abort"}[commit]
		p.txn = 0
	}
}

// logBatch is one batch read back, with its records.
type logBatch struct {
	h    record.BatchHeader
	recs []record.Record
}

// readAllBatches reads every batch below the high watermark.
func readAllBatches(t testing.TB, l *Log) []logBatch {
	t.Helper()
	var out []logBatch
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		must(t, err)
		if len(res.Chunks) == 0 {
			res.Release()
			break
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			for len(b) > 0 {
				bb := b[:mustHeader(t, b).Size()]
				_, err := record.ValidateStored(bb)
				must(t, err)
				h, recs, err := record.Records(bb)
				must(t, err)
				out = append(out, logBatch{h, recs})
				off, b = h.LastOffset()+1, b[h.Size():]
			}
		}
		res.Release()
	}
	return out
}

func checkCleanedTxnLog(t *testing.T, l *Log, m *txnModel) {
	t.Helper()
	end := l.LogEndOffset()
	if got, want := l.LastStableOffset(), m.lso(end); got != want {
		t.Fatalf("last stable offset %d, want %d (log end %d)", got, want, end)
	}
	lso := m.lso(end)
	offs := slices.Sorted(maps.Keys(m.recs))
	want := map[string]string{}
	for _, o := range offs {
		if r := m.recs[o]; o < lso && !m.aborted(r) {
			want[r.key] = r.value
		}
	}
	if got := committedTable(t, l); !maps.Equal(got, want) {
		t.Fatalf("read_committed table %v, want %v", got, want)
	}
	cleaned := cleanedTo(l)
	latest := map[string]int64{} // below cleaned: latest non-aborted offset per key
	for _, o := range offs {
		if r := m.recs[o]; o < cleaned && !m.aborted(r) {
			latest[r.key] = o
		}
	}
	found := map[string]int64{}
	for _, b := range readAllBatches(t, l) {
		if b.h.IsControl() {
			continue
		}
		for _, r := range b.recs {
			o := b.h.BaseOffset + int64(r.OffsetDelta)
			mr, ok := m.recs[o]
			if !ok || mr.key != string(r.Key) || mr.value != string(r.Value) {
				t.Fatalf("offset %d holds %s=%s, written %+v", o, r.Key, r.Value, mr)
			}
			if o >= cleaned {
				continue
			}
			if m.aborted(mr) {
				t.Fatalf("aborted record %s=%s at %d survived cleaning to %d", r.Key, r.Value, o, cleaned)
			}
			if latest[mr.key] != o {
				t.Fatalf("record %s at %d survived cleaning to %d; latest of its key is at %d", r.Key, o, cleaned, latest[mr.key])
			}
			found[mr.key] = o
		}
	}
	if !maps.Equal(found, latest) {
		t.Fatalf("below %d the log holds %v, want the latest of each key %v", cleaned, found, latest)
	}
	txnIndexes(t, l) // memory and files agree
}

// checkMarkersNeeded checks that every marker left either follows a batch
// of its producer's transaction (Kafka keeps it while the data stays) or
// is the producer's last batch.
func checkMarkersNeeded(t *testing.T, l *Log) {
	t.Helper()
	bs := readAllBatches(t, l)
	last := map[int64]int64{}
	for _, b := range bs {
		if b.h.ProducerID >= 0 {
			last[b.h.ProducerID] = b.h.BaseOffset
		}
	}
	data := map[int64]bool{} // producer → a batch of its current transaction is left
	markers := 0
	for _, b := range bs {
		id := b.h.ProducerID
		switch {
		case !b.h.IsControl():
			data[id] = data[id] || b.h.IsTransactional()
		case b.h.NumRecords > 0 && !data[id] && last[id] != b.h.BaseOffset:
			t.Fatalf("marker of producer %d at %d outlived its transaction's data", id, b.h.BaseOffset)
		default:
			markers++
			delete(data, id)
		}
	}
	t.Logf("%d batches left, %d markers", len(bs), markers)
}
