package record_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// TestBuildEndTxnMarker decodes the markers Eddy writes with franz-go's
// decoders, as a consumer would, and checks every field Kafka defines.
func TestBuildEndTxnMarker(t *testing.T) {
	for _, tc := range []struct {
		commit bool
		coord  int32
		want   kmsg.ControlRecordKeyType
	}{
		{commit: true, coord: 7, want: 1},
		{commit: false, coord: 0, want: 0},
		{commit: false, coord: 1 << 30, want: 0},
	} {
		b := record.BuildEndTxnMarker(42, 3, record.EndTxnMarker{Commit: tc.commit, CoordinatorEpoch: tc.coord}, 9, 1234)
		h, err := record.Validate(b)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("kmsg RecordBatch: %v", err)
		}
		if rb.Attributes != 0x30 || rb.ProducerID != 42 || rb.ProducerEpoch != 3 || rb.FirstSequence != -1 ||
			rb.PartitionLeaderEpoch != 9 || rb.NumRecords != 1 || rb.LastOffsetDelta != 0 ||
			rb.FirstTimestamp != 1234 || rb.MaxTimestamp != 1234 || !h.IsControl() || !h.IsTransactional() {
			t.Fatalf("batch header %+v", rb)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(rb.Records); err != nil {
			t.Fatalf("kmsg Record: %v", err)
		}
		var key kmsg.ControlRecordKey
		var val kmsg.EndTxnMarker
		if err := key.ReadFrom(rec.Key); err != nil || key.Version != 0 || key.Type != tc.want {
			t.Fatalf("control key %+v: %v", key, err)
		}
		if err := val.ReadFrom(rec.Value); err != nil || val.Version != 0 || val.CoordinatorEpoch != tc.coord {
			t.Fatalf("marker value %+v: %v", val, err)
		}
		m, ok, err := record.ParseEndTxnMarker(b)
		if err != nil || !ok || m.Commit != tc.commit || m.CoordinatorEpoch != tc.coord {
			t.Fatalf("ParseEndTxnMarker = %+v, %v, %v", m, ok, err)
		}
	}
}

// TestParseEndTxnMarker parses control batches built by kmsg's encoders
// and the cases Kafka does not treat as end markers.
func TestParseEndTxnMarker(t *testing.T) {
	p := recordtest.Producer{ID: 5, Epoch: 1}
	control := func(key, val []byte) []byte {
		o := recordtest.Options{Producer: &recordtest.Producer{ID: 5, Epoch: 1, Sequence: -1}, Transactional: true, Control: true}
		return recordtest.Batch(o, []record.Record{{Key: key, Value: val}})
	}
	keyV1 := binary.BigEndian.AppendUint16([]byte{0, 1}, 1)                // a newer key version is read by its prefix
	valV1 := append(binary.BigEndian.AppendUint32([]byte{0, 1}, 12), 0xff) // so is a longer value
	snapshot := binary.BigEndian.AppendUint16([]byte{0, 0}, 3)             // SNAPSHOT_HEADER: not a marker
	for _, tc := range []struct {
		name    string
		b       []byte
		want    record.EndTxnMarker
		ok      bool
		invalid bool
	}{
		{name: "commit", b: recordtest.EndTxnMarker(p, true, 4, 0), want: record.EndTxnMarker{Commit: true, CoordinatorEpoch: 4}, ok: true},
		{name: "abort", b: recordtest.EndTxnMarker(p, false, 0, 0), want: record.EndTxnMarker{}, ok: true},
		{name: "newer versions", b: control(keyV1, valV1), want: record.EndTxnMarker{Commit: true, CoordinatorEpoch: 12}, ok: true},
		{name: "other control type", b: control(snapshot, []byte{0, 0, 0, 0, 0, 0})},
		{name: "data batch", b: recordtest.Simple(1, 4)},
		{name: "short key", b: control([]byte{0, 0, 0}, []byte{0, 0, 0, 0, 0, 0}), invalid: true},
		{name: "short value", b: control([]byte{0, 0, 0, 1}, []byte{0, 0, 0}), invalid: true},
		{name: "null key", b: control(nil, []byte{0, 0, 0, 0, 0, 0}), invalid: true},
	} {
		m, ok, err := record.ParseEndTxnMarker(tc.b)
		if tc.invalid != errors.Is(err, record.ErrInvalid) || ok != tc.ok || m != tc.want {
			t.Errorf("%s: ParseEndTxnMarker = %+v, %v, %v", tc.name, m, ok, err)
		}
	}
	// A corrupt batch is an error, never a marker.
	b := recordtest.EndTxnMarker(p, true, 4, 0)
	b[len(b)-1] ^= 1
	if _, ok, err := record.ParseEndTxnMarker(b); ok || !errors.Is(err, record.ErrCorrupt) {
		t.Errorf("corrupt marker: ok %v, err %v", ok, err)
	}
}

// FuzzParseEndTxnMarker checks that ParseEndTxnMarker never panics and that
// what it parses encodes back to the same marker.
func FuzzParseEndTxnMarker(f *testing.F) {
	f.Add(record.BuildEndTxnMarker(1, 0, record.EndTxnMarker{Commit: true, CoordinatorEpoch: 3}, 0, 0))
	f.Add(recordtest.EndTxnMarker(recordtest.Producer{ID: 9}, false, 1, 5))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= record.HeaderSize {
			binary.BigEndian.PutUint32(b[17:], record.Checksum(b))
		}
		m, ok, err := record.ParseEndTxnMarker(b)
		if err != nil || !ok {
			return
		}
		h, _ := record.ParseHeader(b)
		again, ok, err := record.ParseEndTxnMarker(record.BuildEndTxnMarker(h.ProducerID, h.ProducerEpoch, m, 0, 0))
		if err != nil || !ok || again != m {
			t.Fatalf("round trip of %+v gave %+v, %v, %v", m, again, ok, err)
		}
	})
}
