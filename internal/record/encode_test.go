package record_test

import (
	"bytes"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func TestBuildRoundTrip(t *testing.T) {
	for name, recs := range map[string][]record.Record{
		"one":     {{Key: []byte("k"), Value: []byte("v")}},
		"nulls":   {{Key: nil, Value: nil}, {Key: []byte{}, Value: []byte{}}},
		"headers": withHeaders(),
		"deltas":  {{TimestampDelta: 0, Value: []byte("a")}, {TimestampDelta: 70, Value: []byte("b")}},
	} {
		b := record.Build(1_700_000_000_000, recs)
		h, err := record.Validate(b)
		if err != nil {
			t.Fatalf("%s: built batch does not validate: %v", name, err)
		}
		if h.NumRecords != int32(len(recs)) || h.ProducerID != -1 || h.BaseTimestamp != 1_700_000_000_000 {
			t.Fatalf("%s: header %+v", name, h)
		}
		_, got, err := record.Records(b)
		if err != nil || len(got) != len(recs) {
			t.Fatalf("%s: decoded %d records: %v", name, len(got), err)
		}
		for i := range recs {
			w, g := recs[i], got[i]
			if !bytes.Equal(w.Key, g.Key) || (w.Key == nil) != (g.Key == nil) ||
				!bytes.Equal(w.Value, g.Value) || (w.Value == nil) != (g.Value == nil) ||
				g.TimestampDelta != w.TimestampDelta || g.OffsetDelta != int32(i) || len(g.Headers) != len(w.Headers) {
				t.Fatalf("%s: record %d: got %+v, want %+v", name, i, g, w)
			}
		}
	}
}

// TestRebuild re-encodes a batch with records dropped, as the log cleaner
// does, for every codec: header fields and offsets are kept, the CRC is
// valid, and only the relaxed validation of stored batches accepts it.
func TestRebuild(t *testing.T) {
	recs := recordtest.Values(5, 30)
	for i := range recs {
		recs[i].Key = []byte{byte('a' + i)}
	}
	for _, c := range []record.Codec{record.None, record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		b := recordtest.Batch(recordtest.Options{Codec: c, BaseTimestamp: 1000,
			Producer: &recordtest.Producer{ID: 9, Epoch: 2, Sequence: 40}}, recs)
		record.SetBaseOffset(b, 500)
		h, err := record.Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		kept := []record.Record{recs[1], recs[4]}
		nb, err := record.Rebuild(h, kept)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if _, err := record.Validate(nb); err == nil {
			t.Fatalf("%s: produce validation accepted a batch with offset gaps", c)
		}
		nh, got, err := record.Records(nb)
		if err != nil {
			t.Fatalf("%s: rebuilt batch: %v", c, err)
		}
		if _, err := record.ValidateStored(nb); err != nil {
			t.Fatalf("%s: stored validation: %v", c, err)
		}
		if nh.Codec() != c || nh.BaseOffset != 500 || nh.LastOffsetDelta != 4 || nh.NumRecords != 2 ||
			nh.ProducerID != 9 || nh.ProducerEpoch != 2 || nh.BaseSequence != 40 || nh.MaxTimestamp != h.MaxTimestamp {
			t.Fatalf("%s: header %+v from %+v", c, nh, h)
		}
		if got[0].OffsetDelta != 1 || got[1].OffsetDelta != 4 || !bytes.Equal(got[1].Value, recs[4].Value) {
			t.Fatalf("%s: records %+v", c, got)
		}
		// A producer's last batch with every record removed stays as a
		// bare uncompressed header.
		empty, err := record.Rebuild(h, nil)
		if err != nil {
			t.Fatal(err)
		}
		eh, err := record.ValidateStored(empty)
		if err != nil || eh.NumRecords != 0 || eh.Codec() != record.None || eh.LastOffsetDelta != 4 || len(empty) != record.HeaderSize {
			t.Fatalf("%s: empty batch %+v: %v", c, eh, err)
		}
		if _, err := record.Validate(empty); err == nil {
			t.Fatalf("%s: produce validation accepted an empty batch", c)
		}
	}
}

func TestDeleteHorizon(t *testing.T) {
	b := recordtest.Batch(recordtest.Options{BaseTimestamp: 1000}, recordtest.Values(2, 3))
	h, _ := record.Validate(b)
	nh := h.WithDeleteHorizon(5000)
	if !nh.HasDeleteHorizon() || nh.BaseTimestamp != 5000 || h.HasDeleteHorizon() {
		t.Fatalf("horizon %+v", nh)
	}
	nb, err := record.Rebuild(nh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ph, _ := record.ParseHeader(nb); !ph.HasDeleteHorizon() || ph.BaseTimestamp != 5000 {
		t.Fatalf("parsed %+v", ph)
	}
}
