package storage

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func producersOf(t testing.TB, l *Log) []ProducerState {
	t.Helper()
	got, err := l.Producers(context.Background())
	must(t, err)
	return got
}

// markerTime reads back the timestamp the log gave the marker at off.
func markerTime(t testing.TB, l *Log, off int64) int64 {
	t.Helper()
	res, err := l.Read(off, 1<<20, true)
	must(t, err)
	defer res.Release()
	b, err := res.Chunks[0].ReadAll()
	must(t, err)
	h, err := parseBatch(b)
	must(t, err)
	if h.BaseOffset != off || !h.IsControl() {
		t.Fatalf("batch at %d is %+v, want the marker", off, h)
	}
	return h.MaxTimestamp
}

// TestProducersView: the state DescribeProducers reports follows appends and
// markers, and survives both a crash (replay) and a clean restart (snapshot).
func TestProducersView(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	if got := producersOf(t, l); len(got) != 0 {
		t.Fatalf("new log has producers %+v", got)
	}
	mustAppend(t, l, batchAt(0, 2, 1000), false) // 0-1, no producer
	txn := recordtest.Batch(recordtest.Options{Transactional: true, BaseTimestamp: 5000,
		Producer: &recordtest.Producer{ID: 7, Epoch: 2, Sequence: 0}}, recordtest.Values(3, 8))
	mustAppend(t, l, txn, false) // 2-4: timestamps 5000-5002
	idem := recordtest.Batch(recordtest.Options{BaseTimestamp: 9000,
		Producer: &recordtest.Producer{ID: 3, Epoch: 0, Sequence: 0}}, recordtest.Values(2, 8))
	mustAppend(t, l, idem, false) // 5-6
	want := []ProducerState{
		{ProducerID: 3, ProducerEpoch: 0, LastSequence: 1, LastTimestamp: 9001, CoordinatorEpoch: -1, TxnStartOffset: -1},
		{ProducerID: 7, ProducerEpoch: 2, LastSequence: 2, LastTimestamp: 5002, CoordinatorEpoch: -1, TxnStartOffset: 2},
	}
	if got := producersOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("during the transaction:\n got %+v\nwant %+v", got, want)
	}
	off, err := l.AppendMarker(context.Background(), TxnMarker{ProducerID: 7, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 4}, AppendOptions{})
	must(t, err)
	want[1].CoordinatorEpoch, want[1].TxnStartOffset, want[1].LastTimestamp = 4, -1, markerTime(t, l, off)
	if got := producersOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the commit:\n got %+v\nwant %+v", got, want)
	}
	crash(t, m)

	m = openManager(t, dir, nil)
	l = m.Log("t", 0)
	if got := producersOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a crash (replayed from the batches):\n got %+v\nwant %+v", got, want)
	}
	must(t, m.Close())
	m = openManager(t, dir, nil)
	defer m.Close()
	l = m.Log("t", 0)
	if got := producersOf(t, l); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a clean restart (from the snapshot):\n got %+v\nwant %+v", got, want)
	}
}

// TestProducersViewClosed: a closed log refuses the read instead of hanging.
func TestProducersViewClosed(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	l := createLog(t, m, smallConfig())
	must(t, m.Close())
	if _, err := l.Producers(context.Background()); err == nil {
		t.Fatal("Producers of a closed log succeeded")
	}
}

// TestSnapshotV2 loads a version 2 snapshot (before last timestamps): the
// timestamp is unknown, the rest as written.
func TestSnapshotV2(t *testing.T) {
	be := binary.BigEndian
	b := append([]byte(snapshotMagic), 0, 2, 0, 0)
	b = be.AppendUint64(b, 50)
	b = be.AppendUint32(b, 1)
	b = be.AppendUint64(b, 3)  // id
	b = be.AppendUint16(b, 5)  // epoch
	b = be.AppendUint32(b, 6)  // coordinator epoch
	b = be.AppendUint64(b, 20) // txn first offset
	b = be.AppendUint16(b, 1)
	for _, x := range []uint32{0, 9} {
		b = be.AppendUint32(b, x)
	}
	b = be.AppendUint64(b, 20)
	b = be.AppendUint64(b, 29)
	b = be.AppendUint32(b, crc32.Checksum(b, castagnoli))
	got, off, err := decodeSnapshot(b)
	want := producers{3: {epoch: 5, coordEpoch: 6, txnFirst: 20, lastTime: -1, batches: []batchMeta{{0, 9, 20, 29}}}}
	if err != nil || off != 50 || !reflect.DeepEqual(got, want) {
		t.Fatalf("version 2: %v %d %+v", err, off, got)
	}
}
