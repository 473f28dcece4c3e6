package node_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// TestPoisonBatchesRefused sends, over TCP, batches with a valid CRC that a
// consumer could not read (garbage flagged as compressed, for every codec),
// or that a producer may not write, between good records: each is refused
// with Kafka's error and a message, and a consumer then reads every good
// record without stalling.
func TestPoisonBatchesRefused(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "poison", 1, nil)
	cl := namedTopicsClient(t, tn.KafkaAddr())
	good := func(i int) []byte {
		return recordtest.Batch(recordtest.Options{}, []record.Record{{Value: []byte(fmt.Sprintf("good %d", i))}})
	}
	garbage := bytes.Repeat([]byte("not compressed at all "), 10)
	cases := []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"gzip garbage", recordtest.WithPayload(recordtest.Options{Codec: record.Gzip}, 3, garbage), kerr.InvalidRecord},
		{"snappy garbage", recordtest.WithPayload(recordtest.Options{Codec: record.Snappy}, 3, garbage), kerr.InvalidRecord},
		{"lz4 garbage", recordtest.WithPayload(recordtest.Options{Codec: record.LZ4}, 3, garbage), kerr.InvalidRecord},
		{"zstd garbage", recordtest.WithPayload(recordtest.Options{Codec: record.Zstd}, 3, garbage), kerr.InvalidRecord},
		{"gzip of bad records", recordtest.WithPayload(recordtest.Options{Codec: record.Gzip}, 3,
			recordtest.Compress(recordtest.Options{Codec: record.Gzip}, garbage)), kerr.InvalidRecord},
		{"zstd with a record too many", recordtest.WithPayload(recordtest.Options{Codec: record.Zstd}, 2,
			recordtest.Compress(recordtest.Options{Codec: record.Zstd}, recordtest.Raw(recordtest.Values(3, 10)))), kerr.InvalidRecord},
		{"two batches for one partition", append(good(-1), good(-2)...), kerr.InvalidRecord},
		{"control batch", recordtest.Batch(recordtest.Options{Control: true}, recordtest.Values(1, 4)), kerr.InvalidRecord},
		{"bad crc", func() []byte { b := good(-1); b[len(b)-1] ^= 1; return b }(), kerr.CorruptMessage},
		{"transactional without a transactional id", recordtest.Batch(recordtest.Options{Transactional: true,
			Producer: &recordtest.Producer{ID: 1, Sequence: 0}}, recordtest.Values(1, 4)), kerr.TransactionalIDAuthorizationFailed},
	}
	for i, c := range cases {
		if p := produceRaw(t, cl, "poison", good(i)); p.ErrorCode != 0 {
			t.Fatalf("good batch %d: %v", i, kerr.ErrorForCode(p.ErrorCode))
		}
		p := produceRaw(t, cl, "poison", c.batch)
		if p.ErrorCode != c.want.Code {
			t.Errorf("%s: got %v, want %v", c.name, kerr.ErrorForCode(p.ErrorCode), c.want)
		}
		if c.want != kerr.TransactionalIDAuthorizationFailed && (p.ErrorMessage == nil || *p.ErrorMessage == "") {
			t.Errorf("%s: no error message", c.name)
		}
	}
	recs := consumeAll(t, tn.KafkaAddr(), "poison", len(cases))
	for i, r := range recs {
		if want := fmt.Sprintf("good %d", i); string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record at %d is %q, want %q at %d", r.Offset, r.Value, want, i)
		}
	}
}

// TestZstdNeedsProduceV7 refuses zstd in Produce v3-v6, as Kafka does.
func TestZstdNeedsProduceV7(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "z", 1, nil)
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 6)
	cl := newClient(t, tn.KafkaAddr(), kgo.MaxVersions(v))
	b := recordtest.Batch(recordtest.Options{Codec: record.Zstd}, recordtest.Values(2, 10))
	if p := produceRaw(t, cl, "z", b); p.ErrorCode != kerr.UnsupportedCompressionType.Code {
		t.Fatalf("zstd in v6: got %v, want UNSUPPORTED_COMPRESSION_TYPE", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := produceRaw(t, namedTopicsClient(t, tn.KafkaAddr()), "z", b); p.ErrorCode != 0 {
		t.Fatalf("zstd in v12: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestKeylessRecordsBlamed produces 100 records, every tenth without a key,
// to a compacted topic in one batch per codec (as librdkafka's test 0011
// does): the batch is refused with INVALID_RECORD and ErrorRecords lists
// exactly the keyless records, in order (KIP-467), so a client fails only
// those; a keyed batch then goes through.
func TestKeylessRecordsBlamed(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "compacted", 1, map[string]*string{"cleanup.policy": ptr("compact")})
	cl := namedTopicsClient(t, tn.KafkaAddr())
	recs := recordtest.Values(100, 20)
	var want []int32
	for i := range recs {
		if i%10 == 0 {
			want = append(want, int32(i))
			continue
		}
		recs[i].Key = []byte(fmt.Sprint(i))
	}
	for _, codec := range []record.Codec{record.None, record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		p := produceRaw(t, cl, "compacted", recordtest.Batch(recordtest.Options{Codec: codec}, recs))
		if p.ErrorCode != kerr.InvalidRecord.Code {
			t.Fatalf("%s: got %v, want INVALID_RECORD", codec, kerr.ErrorForCode(p.ErrorCode))
		}
		var got []int32
		for _, er := range p.ErrorRecords {
			got = append(got, er.RelativeOffset)
			if er.ErrorMessage == nil || !strings.Contains(*er.ErrorMessage, "without a key") {
				t.Fatalf("%s: record %d: message %v", codec, er.RelativeOffset, er.ErrorMessage)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: blamed records %v, want %v", codec, got, want)
		}
		if p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "10 of the batch's records rejected") {
			t.Fatalf("%s: message %v", codec, p.ErrorMessage)
		}
	}
	keyed := []record.Record{{Key: []byte("k"), Value: []byte("v")}, {OffsetDelta: 1, Key: []byte("l")}}
	if p := produceRaw(t, cl, "compacted", recordtest.Batch(recordtest.Options{Codec: record.LZ4}, keyed)); p.ErrorCode != 0 {
		t.Fatalf("keyed batch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}
