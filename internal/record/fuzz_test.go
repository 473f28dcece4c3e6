package record_test

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func seeds(f *testing.F) {
	// A small bound keeps each input fast: decompression bombs up to the
	// real 64 MiB bound stall the fuzzer without finding anything new.
	old := record.MaxDecompressedBytes
	f.Cleanup(func() { record.MaxDecompressedBytes = old }) // later tests (with -count > 1) see the real bound
	record.MaxDecompressedBytes = 1 << 20
	f.Add(recordtest.Batch(recordtest.Options{}, withHeaders()))
	for _, c := range []record.Codec{record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		f.Add(recordtest.Batch(recordtest.Options{Codec: c}, recordtest.Values(5, 20)))
	}
	f.Add(recordtest.Batch(recordtest.Options{Codec: record.Snappy, Xerial: true}, recordtest.Values(5, 50)))
}

// FuzzValidate checks that Validate and ValidateProduce never panic and
// that what ValidateProduce accepts, compressed or not, Records decodes.
// The CRC is fixed first, so that mutated payloads reach the decoders.
func FuzzValidate(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= record.HeaderSize {
			binary.BigEndian.PutUint32(b[17:], record.Checksum(b))
		}
		h, err := record.Validate(b)
		if err != nil {
			return
		}
		if h.Size() != len(b) {
			t.Fatalf("valid batch of %d bytes reports size %d", len(b), h.Size())
		}
		_, perr := record.ValidateProduce(context.Background(), b, record.ProduceRules{RequireKeys: true})
		var re *record.RecordsError
		if perr != nil && !errors.As(perr, &re) {
			if h.Codec() == record.None {
				t.Fatalf("ValidateProduce rejects the framing Validate accepts: %v", perr)
			}
			return
		}
		_, recs, err := record.Records(b)
		if err != nil || len(recs) != int(h.NumRecords) {
			t.Fatalf("ValidateProduce accepted what Records rejects: %v", err)
		}
	})
}

// FuzzValidateProduce compresses arbitrary record bytes with every codec
// and checks that the streaming validation of each agrees with the
// validation of the same records uncompressed, keyless records included.
func FuzzValidateProduce(f *testing.F) {
	f.Add(recordtest.Raw(withHeaders()), uint8(3))
	f.Add(recordtest.Raw(recordtest.Values(4, 300)), uint8(4))
	f.Add(append(recordtest.Raw(withHeaders()), 0), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		rules := record.ProduceRules{RequireKeys: true}
		verdict := func(o recordtest.Options) (bool, []record.RecordError) {
			_, err := record.ValidateProduce(context.Background(), recordtest.WithPayload(o, int32(n), recordtest.Compress(o, raw)), rules)
			var re *record.RecordsError
			if errors.As(err, &re) {
				return true, re.Records
			}
			return err == nil, nil
		}
		okNone, blamedNone := verdict(recordtest.Options{})
		for _, c := range []record.Codec{record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
			for _, xerial := range []bool{false, c == record.Snappy} {
				ok, blamed := verdict(recordtest.Options{Codec: c, Xerial: xerial})
				if ok != okNone || !reflect.DeepEqual(blamed, blamedNone) {
					t.Fatalf("%s (xerial %v): accepted %v blaming %v; uncompressed: %v blaming %v", c, xerial, ok, blamed, okNone, blamedNone)
				}
			}
		}
	})
}

// FuzzRecords checks that Records never panics and that what it decodes
// re-encodes to the same records.
func FuzzRecords(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := record.Records(b)
		if err != nil {
			return
		}
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
		}
		if len(recs) == 0 {
			return // a cleaned producer marker
		}
		again := recordtest.Batch(recordtest.Options{}, recs)
		_, recs2, err := record.Records(again)
		if err != nil || len(recs2) != len(recs) {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

// FuzzValidateStored checks that the relaxed validation of stored batches
// never panics, accepts everything Validate does, and agrees with Records
// on uncompressed batches.
func FuzzValidateStored(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := record.ValidateStored(b)
		if _, strictErr := record.Validate(b); strictErr == nil && err != nil {
			t.Fatalf("ValidateStored rejects a batch Validate accepts: %v", err)
		}
		if err != nil || h.Codec() != record.None {
			return
		}
		if _, recs, err := record.Records(b); err != nil || len(recs) != int(h.NumRecords) {
			t.Fatalf("ValidateStored accepted what Records rejects: %v", err)
		}
	})
}
