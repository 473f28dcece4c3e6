package record_test

import (
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func seeds(f *testing.F) {
	// A small bound keeps each input fast: decompression bombs up to the
	// real 64 MiB bound stall the fuzzer without finding anything new.
	record.MaxDecompressedBytes = 1 << 20
	f.Add(recordtest.Batch(recordtest.Options{}, withHeaders()))
	for _, c := range []record.Codec{record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		f.Add(recordtest.Batch(recordtest.Options{Codec: c}, recordtest.Values(5, 20)))
	}
	f.Add(recordtest.Batch(recordtest.Options{Codec: record.Snappy, Xerial: true}, recordtest.Values(5, 50)))
}

// FuzzValidate checks that Validate never panics and agrees with Records.
func FuzzValidate(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := record.Validate(b)
		if err != nil {
			return
		}
		if h.Size() != len(b) {
			t.Fatalf("valid batch of %d bytes reports size %d", len(b), h.Size())
		}
		if h.Codec() != record.None {
			return
		}
		_, recs, err := record.Records(b)
		if err != nil || len(recs) != int(h.NumRecords) {
			t.Fatalf("Validate accepted what Records rejects: %v", err)
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
