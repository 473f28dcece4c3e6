package record_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

var codecCases = []struct {
	name string
	o    recordtest.Options
}{
	{"none", recordtest.Options{}},
	{"gzip", recordtest.Options{Codec: record.Gzip}},
	{"snappy", recordtest.Options{Codec: record.Snappy}},
	{"snappy-xerial", recordtest.Options{Codec: record.Snappy, Xerial: true}},
	{"lz4", recordtest.Options{Codec: record.LZ4}},
	{"zstd", recordtest.Options{Codec: record.Zstd}},
}

func validateProduce(b []byte, rules record.ProduceRules) error {
	_, err := record.ValidateProduce(context.Background(), b, rules)
	return err
}

// TestValidateProduceRecords builds, for every codec, batches whose CRC is
// valid but whose records (compressed or not) are not what the header
// says: all must be refused with INVALID_RECORD's error.
func TestValidateProduceRecords(t *testing.T) {
	recs := append(withHeaders(), recordtest.Values(20, 30)[3:]...)
	raw := recordtest.Raw(recs)
	gaps := append([]record.Record(nil), recs...)
	gaps[5].OffsetDelta = 7
	tests := []struct {
		name    string
		n       int32
		payload func(recordtest.Options) []byte
		wantErr error
	}{
		{"valid", 20, func(o recordtest.Options) []byte { return recordtest.Compress(o, raw) }, nil},
		{"garbage", 20, func(recordtest.Options) []byte { return bytes.Repeat([]byte("garbage!"), 40) }, record.ErrInvalid},
		{"last record cut", 20, func(o recordtest.Options) []byte { return recordtest.Compress(o, raw[:len(raw)-3]) }, record.ErrInvalid},
		{"one record missing", 21, func(o recordtest.Options) []byte { return recordtest.Compress(o, raw) }, record.ErrInvalid},
		{"one record too many", 19, func(o recordtest.Options) []byte { return recordtest.Compress(o, raw) }, record.ErrInvalid},
		{"trailing bytes", 20, func(o recordtest.Options) []byte {
			return recordtest.Compress(o, append(raw[:len(raw):len(raw)], 0, 0))
		}, record.ErrInvalid},
		{"offset delta gap", 20, func(o recordtest.Options) []byte { return recordtest.Compress(o, recordtest.Raw(gaps)) }, record.ErrInvalid},
		{"bad record length", 20, func(o recordtest.Options) []byte {
			return recordtest.Compress(o, append([]byte{0x7f}, raw[1:]...))
		}, record.ErrInvalid},
		{"compressed stream cut", 20, func(o recordtest.Options) []byte {
			c := recordtest.Compress(o, raw)
			return c[:len(c)*3/4]
		}, record.ErrInvalid},
	}
	for _, c := range codecCases {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				err := validateProduce(recordtest.WithPayload(c.o, tt.n, tt.payload(c.o)), record.ProduceRules{})
				if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			})
		}
	}
}

// TestValidateProduceHeaderRules applies Kafka's rules for a producer's
// batch header only to batches from clients.
func TestValidateProduceHeaderRules(t *testing.T) {
	recs := recordtest.Values(3, 5)
	tests := []struct {
		name string
		b    []byte
	}{
		{"control batch", recordtest.Batch(recordtest.Options{Control: true}, recs)},
		{"transactional without producer id", recordtest.Batch(recordtest.Options{Transactional: true}, recs)},
		{"producer id without sequence", recordtest.Batch(recordtest.Options{Producer: &recordtest.Producer{ID: 3, Sequence: -1}}, recs)},
		{"base offset set", func() []byte {
			b := recordtest.Batch(recordtest.Options{Codec: record.LZ4}, recs)
			record.SetBaseOffset(b, 42)
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validateProduce(tt.b, record.ProduceRules{}); err != nil {
				t.Fatalf("refused from the broker itself: %v", err)
			}
			if err := validateProduce(tt.b, record.ProduceRules{FromClient: true}); !errors.Is(err, record.ErrInvalid) {
				t.Fatalf("from a client: got %v, want ErrInvalid", err)
			}
		})
	}
	ok := recordtest.Batch(recordtest.Options{Codec: record.Zstd, Producer: &recordtest.Producer{ID: 3, Sequence: 7}}, recs)
	if err := validateProduce(ok, record.ProduceRules{FromClient: true}); err != nil {
		t.Fatalf("idempotent batch refused: %v", err)
	}
}

// TestValidateProduceKeys lists exactly the keyless records of a batch for
// a compacted topic, for every codec, so a client can fail only those.
func TestValidateProduceKeys(t *testing.T) {
	recs := recordtest.Values(25, 10)
	var want []record.RecordError
	for i := range recs {
		if i%10 == 3 || i == 24 {
			want = append(want, record.RecordError{Index: int32(i), Message: "compacted topic cannot accept a record without a key"})
			continue
		}
		recs[i].Key = []byte{byte(i)}
	}
	for _, c := range codecCases {
		b := recordtest.Batch(c.o, recs)
		if err := validateProduce(b, record.ProduceRules{}); err != nil {
			t.Fatalf("%s: keyless records refused on a plain topic: %v", c.name, err)
		}
		err := validateProduce(b, record.ProduceRules{RequireKeys: true})
		var re *record.RecordsError
		if !errors.As(err, &re) || !errors.Is(err, record.ErrInvalid) {
			t.Fatalf("%s: got %v, want a RecordsError", c.name, err)
		}
		if !reflect.DeepEqual(re.Records, want) {
			t.Fatalf("%s: blamed %+v, want %+v", c.name, re.Records, want)
		}
		keyed := recordtest.Batch(c.o, recs[:3])
		if err := validateProduce(keyed, record.ProduceRules{RequireKeys: true}); err != nil {
			t.Fatalf("%s: keyed records refused: %v", c.name, err)
		}
	}
}

// TestValidateProduceBomb refuses batches that decompress beyond
// MaxDecompressedBytes, and validates a large batch within it holding no
// more than the codec's own window: a gzip, lz4 or xerial stream is walked
// through a small window (plus, for lz4, the frame's block buffer: 4 MiB at
// most); a raw snappy block is decoded whole (its size is declared, and
// bounded first); zstd keeps the window its frame declares.
func TestValidateProduceBomb(t *testing.T) {
	old := record.MaxDecompressedBytes
	t.Cleanup(func() { record.MaxDecompressedBytes = old })
	record.MaxDecompressedBytes = 64 << 10
	big := recordtest.Values(16, 8<<10) // 128 KiB of records
	for _, c := range codecCases[1:] {
		err := validateProduce(recordtest.Batch(c.o, big), record.ProduceRules{})
		if !errors.Is(err, record.ErrInvalid) || !strings.Contains(err.Error(), "exceed") {
			t.Errorf("%s: got %v, want ErrInvalid for the size", c.name, err)
		}
	}
	record.MaxDecompressedBytes = old
	const size = 4 << 20
	huge := recordtest.Values(64, 64<<10)
	bound := map[string]uint64{"snappy": size + 1<<20, "zstd": size + 1<<20, "lz4": 5 << 20}
	for _, c := range codecCases[1:] {
		b := recordtest.Batch(c.o, huge)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := validateProduce(b, record.ProduceRules{})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		max, ok := bound[c.name]
		if !ok {
			max = 1 << 20
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > max {
			t.Errorf("%s: %d bytes allocated to validate %d bytes of records, want at most %d", c.name, got, size, max)
		}
	}
}

// BenchmarkValidateCodecs measures, per codec, a 64-record batch of 1 KiB
// values (one random value repeated, as `eddy bench produce` sends):
// "header" is Validate (header, CRC, and record framing only when
// uncompressed: all that was checked on produce before), "produce" is
// ValidateProduce (records decompressed and walked).
func BenchmarkValidateCodecs(b *testing.B) {
	value := make([]byte, 1024)
	rand.New(rand.NewSource(1)).Read(value)
	recs := make([]record.Record, 64)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: value}
	}
	ctx := context.Background()
	for _, c := range codecCases {
		batch := recordtest.Batch(c.o, recs)
		b.Run(c.name+"/header", func(b *testing.B) {
			b.SetBytes(int64(64 * 1024))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := record.Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/produce", func(b *testing.B) {
			b.SetBytes(int64(64 * 1024))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := record.ValidateProduce(ctx, batch, record.ProduceRules{FromClient: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestValidateProduceWaitsForASlot: with every decoding slot busy, a
// compressed batch waits no longer than its context, and an uncompressed one
// does not wait at all.
func TestValidateProduceWaitsForASlot(t *testing.T) {
	release := record.HoldDecodeSlots()
	defer func() { release() }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := recordtest.Batch(recordtest.Options{Codec: record.Gzip}, recordtest.Values(2, 10))
	if _, err := record.ValidateProduce(ctx, b, record.ProduceRules{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("compressed batch with no slot: got %v, want context.Canceled", err)
	}
	if _, err := record.ValidateProduce(ctx, recordtest.Simple(2, 10), record.ProduceRules{}); err != nil {
		t.Fatalf("uncompressed batch: %v", err)
	}
	release()
	release = func() {}
	if _, err := record.ValidateProduce(context.Background(), b, record.ProduceRules{}); err != nil {
		t.Fatalf("compressed batch once slots are free: %v", err)
	}
}
