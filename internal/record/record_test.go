package record_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func withHeaders() []record.Record {
	return []record.Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("k0"), Value: []byte("v0")},
		{OffsetDelta: 1, TimestampDelta: 7, Key: nil, Value: nil},
		{OffsetDelta: 2, TimestampDelta: -3, Key: []byte{}, Value: []byte("x"),
			Headers: []record.Header{{Key: "h", Value: []byte("hv")}, {Key: "", Value: nil}}},
	}
}

// recrc recomputes the CRC after a test mutates covered bytes.
func recrc(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestValidate(t *testing.T) {
	good := func() []byte { return recordtest.Batch(recordtest.Options{BaseTimestamp: 1000}, withHeaders()) }
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		wantErr error
	}{
		{"valid", func(b []byte) []byte { return b }, nil},
		{"short", func(b []byte) []byte { return b[:60] }, record.ErrInvalid},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, record.ErrInvalid},
		{"trailing byte", func(b []byte) []byte { return append(b, 0) }, record.ErrInvalid},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, record.ErrUnsupportedMagic},
		{"crc flipped", func(b []byte) []byte { b[17] ^= 1; return b }, record.ErrCorrupt},
		{"payload flipped", func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }, record.ErrCorrupt},
		{"length too small", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 48); return b }, record.ErrInvalid},
		{"zero records", func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 0); return recrc(b) }, record.ErrInvalid},
		{"count too high", func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 4); return recrc(b) }, record.ErrInvalid},
		{"lastOffsetDelta mismatch", func(b []byte) []byte { binary.BigEndian.PutUint32(b[23:], 5); return recrc(b) }, record.ErrInvalid},
		{"unknown codec", func(b []byte) []byte { b[22] |= 7; return recrc(b) }, record.ErrInvalid},
		{"record length bad", func(b []byte) []byte { b[61] = 0x7f; return recrc(b) }, record.ErrInvalid},
		{"huge count", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 1<<30)
			binary.BigEndian.PutUint32(b[23:], 1<<30-1)
			return recrc(b)
		}, record.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := record.Validate(tt.mutate(good()))
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestValidateOffsetDeltaGap(t *testing.T) {
	recs := withHeaders()
	recs[2].OffsetDelta = 3
	b := recordtest.Batch(recordtest.Options{}, recs)
	// Four offsets, three records: the produce path rejects it...
	if _, err := record.Validate(b); !errors.Is(err, record.ErrInvalid) {
		t.Fatalf("Validate: got %v, want ErrInvalid", err)
	}
	// ...but a compacted batch still decodes.
	if _, got, err := record.Records(b); err != nil || got[2].OffsetDelta != 3 {
		t.Fatalf("Records: %v %+v", err, got)
	}
}

func TestRecordsCodecs(t *testing.T) {
	want := withHeaders()
	tests := []struct {
		name string
		o    recordtest.Options
	}{
		{"none", recordtest.Options{}},
		{"gzip", recordtest.Options{Codec: record.Gzip}},
		{"snappy raw", recordtest.Options{Codec: record.Snappy}},
		{"snappy xerial", recordtest.Options{Codec: record.Snappy, Xerial: true}},
		{"lz4", recordtest.Options{Codec: record.LZ4}},
		{"zstd", recordtest.Options{Codec: record.Zstd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.BaseTimestamp = 1700000000000
			b := recordtest.Batch(tt.o, append(want, recordtest.Values(50, 40)[3:]...))
			h, got, err := record.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := record.Validate(b); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if h.Codec() != tt.o.Codec || h.NumRecords != 50 || h.MaxTimestamp != tt.o.BaseTimestamp+49 {
				t.Fatalf("header %+v", h)
			}
			if !reflect.DeepEqual(got[:3], want) {
				t.Fatalf("records:\n got %+v\nwant %+v", got[:3], want)
			}
		})
	}
}

func TestHeaderAccessors(t *testing.T) {
	b := recordtest.Batch(recordtest.Options{
		Codec: record.LZ4, Transactional: true,
		Producer: &recordtest.Producer{ID: 7, Epoch: 2, Sequence: 40},
	}, recordtest.Values(3, 1))
	h, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Codec() != record.LZ4 || !h.IsTransactional() || h.IsControl() || h.HasLogAppendTime() {
		t.Fatalf("attributes %x", h.Attributes)
	}
	if h.Size() != len(b) || h.ProducerID != 7 || h.ProducerEpoch != 2 || h.BaseSequence != 40 {
		t.Fatalf("header %+v", h)
	}
}

func TestStamping(t *testing.T) {
	b := recordtest.Simple(4, 10)
	record.SetBaseOffset(b, 1234)
	record.SetPartitionLeaderEpoch(b, 9)
	record.SetLogAppendTime(b, 5555)
	h, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1234 || h.LastOffset() != 1237 || h.PartitionLeaderEpoch != 9 ||
		!h.HasLogAppendTime() || h.MaxTimestamp != 5555 {
		t.Fatalf("header %+v", h)
	}
}

func TestDecompressionBomb(t *testing.T) {
	old := record.MaxDecompressedBytes
	record.MaxDecompressedBytes = 1 << 10
	defer func() { record.MaxDecompressedBytes = old }()
	for _, c := range []record.Codec{record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		b := recordtest.Batch(recordtest.Options{Codec: c}, recordtest.Values(10, 1000))
		if _, _, err := record.Records(b); !errors.Is(err, record.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c, err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	batch := recordtest.Simple(16, 1024)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.Validate(batch); err != nil {
			b.Fatal(err)
		}
	}
}
