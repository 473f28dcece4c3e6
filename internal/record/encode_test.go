package record_test

import (
	"bytes"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
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
