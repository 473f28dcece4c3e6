package txn

import (
	"encoding/hex"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// unhex decodes hex written with spaces and comments (after #) for
// readability.
func unhex(t testing.TB, s string) []byte {
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		clean.WriteString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ongoing = &Entry{ProducerID: 1000, PreviousProducerID: 999, NextProducerID: -1, ProducerEpoch: 2,
	TimeoutMs: 60000, State: Ongoing,
	Partitions:   []TopicPartition{{"a", 0}, {"a", 1}, {"b", 5}},
	LastUpdateMs: 1700000000123, StartMs: 1700000000000, ClientTxnVersion: 2}

// TestGoldenBytes pins the encoding to Kafka's TransactionLogKey and
// TransactionLogValue schemas, written out by hand from the schemas, field
// by field.
func TestGoldenBytes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		got     []byte
		want    string
		version int16
		entry   *Entry
	}{
		{name: "key", got: EncodeKey("txn-1"), want: `
			0000        # key version 0
			0005 74786e2d31 # "txn-1"`},
		{name: "value v0 ongoing", version: 0, entry: ongoing, want: `
			0000                # version 0
			00000000000003e8    # producer id 1000
			0002                # producer epoch
			0000ea60            # timeout 60000
			01                  # state Ongoing
			00000002            # 2 topics
			  0001 61  00000002 00000000 00000001   # "a": [0 1]
			  0001 62  00000001 00000005            # "b": [5]
			0000018bcfe5687b    # last update
			0000018bcfe56800    # start`},
		{name: "value v1 ongoing", version: 1, entry: ongoing, want: `
			0001                # version 1 (flexible)
			00000000000003e8    # producer id
			0002                # producer epoch
			0000ea60            # timeout
			01                  # state Ongoing
			03                  # 2 topics (compact: n+1)
			  02 61  03 00000000 00000001  00   # "a": [0 1], no tags
			  02 62  02 00000005           00   # "b": [5]
			0000018bcfe5687b    # last update
			0000018bcfe56800    # start
			02                  # 2 tagged fields (next producer id is -1: left out)
			  00 08 00000000000003e7   # tag 0 previous producer id 999
			  02 02 0002               # tag 2 client transaction version 2`},
		{name: "value v1 empty", version: 1,
			entry: &Entry{ProducerID: 7, PreviousProducerID: -1, NextProducerID: 8, ProducerEpoch: 0,
				TimeoutMs: 1, State: Empty, LastUpdateMs: 1, StartMs: -1}, want: `
			0001 0000000000000007 0000 00000001
			00                  # state Empty
			00                  # null partitions, as Kafka writes for Empty
			0000000000000001 ffffffffffffffff
			01 01 08 0000000000000008   # tag 1 next producer id 8`},
		{name: "value v0 empty", version: 0,
			entry: &Entry{ProducerID: 7, PreviousProducerID: -1, NextProducerID: -1, State: Empty, StartMs: -1}, want: `
			0000 0000000000000007 0000 00000000 00
			ffffffff            # null array
			0000000000000000 ffffffffffffffff`},
	} {
		got := tc.got
		if tc.entry != nil {
			got = EncodeValue(tc.entry, tc.version)
		}
		if want := unhex(t, tc.want); string(got) != string(want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, got, want)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, e := range []*Entry{ongoing, {ProducerID: 1, PreviousProducerID: -1, NextProducerID: -1, State: CompleteAbort,
		Partitions: nil, StartMs: 5, LastUpdateMs: 6}} {
		id, got, err := DecodeRecord(EncodeKey("x"), EncodeValue(e, 1))
		if err != nil || id != "x" {
			t.Fatalf("decode: %q %v", id, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("decode(encode(%+v)) = %+v", e, got)
		}
	}
	if id, e, err := DecodeRecord(EncodeKey("gone"), nil); err != nil || id != "gone" || e != nil {
		t.Errorf("tombstone decoded as %q %+v %v", id, e, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := EncodeValue(ongoing, 1)
	for name, tc := range map[string]struct {
		key, value []byte
		want       error
	}{
		"short key":        {key: []byte{0}, want: errBadRecord},
		"key version 1":    {key: []byte{0, 1, 0, 0}, want: errUnknownRecord},
		"truncated key":    {key: []byte{0, 0, 0, 9, 'a'}, want: errBadRecord},
		"value version 2":  {key: EncodeKey("x"), value: append([]byte{0, 2}, good[2:]...), want: errBadRecord},
		"negative version": {key: EncodeKey("x"), value: append([]byte{0xff, 0xff}, good[2:]...), want: errBadRecord},
		"truncated value":  {key: EncodeKey("x"), value: good[:len(good)-1], want: errBadRecord},
		"state 8":          {key: EncodeKey("x"), value: func() []byte { b := append([]byte{}, good...); b[16] = 8; return b }(), want: errBadRecord},
		"huge array":       {key: EncodeKey("x"), value: unhex(t, "0000 0000000000000001 0000 00000001 01 7fffffff"), want: errBadRecord},
	} {
		if _, _, err := DecodeRecord(tc.key, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// FuzzDecodeRecord: no input panics, and what decodes re-encodes to a
// record that decodes to the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeKey("t"), EncodeValue(ongoing, 1))
	f.Add(EncodeKey("t"), EncodeValue(ongoing, 0))
	f.Add(EncodeKey(""), []byte{0, 1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, e, err := DecodeRecord(key, value)
		if err != nil || e == nil {
			return
		}
		for _, version := range []int16{0, 1} {
			id2, e2, err := DecodeRecord(EncodeKey(id), EncodeValue(e, version))
			if err != nil || id2 != id {
				t.Fatalf("re-decode v%d of %q: %q %v", version, id, id2, err)
			}
			if version == 0 {
				// Version 0 has no tagged fields.
				e2.PreviousProducerID, e2.NextProducerID, e2.ClientTxnVersion = e.PreviousProducerID, e.NextProducerID, e.ClientTxnVersion
			}
			if !reflect.DeepEqual(e, e2) {
				t.Fatalf("v%d round trip of %+v gave %+v", version, e, e2)
			}
		}
	})
}

// TestPartitionFor pins Kafka's mapping (Utils.abs(hashCode) % n).
func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int32
	}{
		{"t", 116 % 50},
		{"", 0},
		{"my-txn", 3},             // Java: "my-txn".hashCode() = -1061187895
		{"polygenelubricants", 0}, // hashCode Integer.MIN_VALUE: abs masks to 0
		{"😀", 49},                 // one code point, two UTF-16 units: 31*0xd83d + 0xde00
	} {
		if got := PartitionFor(tc.id, 50); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.id, got, tc.want)
		}
	}
}

// TestTransitions pins Kafka's valid previous states.
func TestTransitions(t *testing.T) {
	valid := map[[2]State]bool{}
	for to, froms := range validPrevious {
		for _, from := range froms {
			valid[[2]State{from, State(to)}] = true
		}
	}
	for from := Empty; from <= PrepareEpochFence; from++ {
		for to := Empty; to <= PrepareEpochFence; to++ {
			if got := canTransition(from, to); got != valid[[2]State{from, to}] {
				t.Errorf("%v → %v: %v", from, to, got)
			}
		}
	}
	for _, tr := range [][2]State{{Ongoing, PrepareCommit}, {PrepareCommit, CompleteCommit}, {CompleteAbort, Ongoing},
		{Empty, PrepareAbort}, {CompleteCommit, Dead}} {
		if !canTransition(tr[0], tr[1]) {
			t.Errorf("%v → %v refused", tr[0], tr[1])
		}
	}
	for _, tr := range [][2]State{{Empty, PrepareCommit}, {Ongoing, Dead}, {PrepareCommit, PrepareAbort},
		{CompleteCommit, CompleteAbort}, {Ongoing, Empty}, {Empty, 9}} {
		if canTransition(tr[0], tr[1]) {
			t.Errorf("%v → %v allowed", tr[0], tr[1])
		}
	}
	if State(9).String() != "Unknown" || PrepareEpochFence.String() != "PrepareEpochFence" {
		t.Error("state names")
	}
}

// TestReplayBatch: records come back from the log as batches, and one
// bad record does not stop the others.
func TestReplayBatch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.NextProducerID = func() (int64, error) { return 1, nil }
	cfg.OffsetsPartition = func(string) int32 { return 0 }
	c, err := New(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs := []record.Record{
		Record("a", ongoing, 1),
		{Key: EncodeKey("bad"), Value: []byte{0, 1, 2}},
		Record("b", ongoing, 0),
		Record("a", nil, 1),
	}
	if err := c.ReplayBatch(record.Build(0, recs)); err != nil {
		t.Fatal(err)
	}
	if err := c.ReplayBatch([]byte("not a batch")); !errors.Is(err, errBadRecord) {
		t.Fatalf("garbage batch: %v", err)
	}
	c.Loaded(time.Unix(0, 0))
	if len(c.txns) != 1 || c.txns["b"] == nil || c.txns["b"].ProducerID != 1000 {
		t.Fatalf("replayed %v, want only b", slices.Collect(maps.Keys(c.txns)))
	}
}
