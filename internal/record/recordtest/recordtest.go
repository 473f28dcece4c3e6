// Package recordtest builds real RecordBatch v2 bytes for tests, using
// franz-go's kmsg encoders as an independent reference implementation.
// It is imported only by tests.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Producer identifies an idempotent producer's batch.
type Producer struct {
	ID       int64
	Epoch    int16
	Sequence int32
}

// Options describes a batch to build.
type Options struct {
	Codec         record.Codec
	Xerial        bool      // frame snappy the way Java clients do
	Producer      *Producer // nil: not idempotent
	Transactional bool
	Control       bool
	BaseTimestamp int64
}

// Values returns n records with values of size bytes each and timestamp
// deltas 0..n-1.
func Values(n, size int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		recs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Value: v}
	}
	return recs
}

// Batch encodes recs (with offset deltas as given) into one batch.
func Batch(o Options, recs []record.Record) []byte {
	var maxDelta int64
	for _, r := range recs {
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	b := WithPayload(o, int32(len(recs)), Compress(o, Raw(recs)))
	binary.BigEndian.PutUint32(b[23:], uint32(recs[len(recs)-1].OffsetDelta))
	binary.BigEndian.PutUint64(b[35:], uint64(o.BaseTimestamp+maxDelta))
	return fixCRC(b)
}

// Raw encodes recs uncompressed, as a batch's records section.
func Raw(recs []record.Record) []byte {
	var raw []byte
	for _, r := range recs {
		raw = appendRecord(raw, r)
	}
	return raw
}

// WithPayload builds a batch of n records (lastOffsetDelta n-1) whose
// records section is payload as given, compressed or not as o.Codec says,
// with a valid CRC: garbage here passes the CRC check.
func WithPayload(o Options, n int32, payload []byte) []byte {
	rb := kmsg.RecordBatch{
		Magic:           2,
		Attributes:      int16(o.Codec),
		LastOffsetDelta: n - 1,
		FirstTimestamp:  o.BaseTimestamp,
		MaxTimestamp:    o.BaseTimestamp,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      n,
		Records:         payload,
	}
	if o.Transactional {
		rb.Attributes |= 0x10
	}
	if o.Control {
		rb.Attributes |= 0x20
	}
	if p := o.Producer; p != nil {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = p.ID, p.Epoch, p.Sequence
	}
	rb.Length = int32(record.HeaderSize - 12 + len(rb.Records))
	return fixCRC(rb.AppendTo(nil))
}

func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// Simple returns an uncompressed batch of n records of size bytes.
func Simple(n, size int) []byte { return Batch(Options{}, Values(n, size)) }

func appendRecord(dst []byte, r record.Record) []byte {
	kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	body := kr.AppendTo(nil)[1:] // Length 0 encodes as one byte
	kr.Length = int32(len(body))
	return kr.AppendTo(dst)
}

var zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// Compress encodes raw records with o's codec as clients do.
func Compress(o Options, raw []byte) []byte {
	var buf bytes.Buffer
	switch o.Codec {
	case record.Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	case record.Snappy:
		if !o.Xerial {
			return s2.EncodeSnappy(nil, raw)
		}
		buf.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
		for len(raw) > 0 {
			n := min(len(raw), 100) // small blocks exercise the framing loop
			blk := s2.EncodeSnappy(nil, raw[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(blk))))
			buf.Write(blk)
			raw = raw[n:]
		}
	case record.LZ4:
		w := lz4.NewWriter(&buf)
		w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)) // cheap enough to fuzz
		w.Write(raw)
		w.Close()
	case record.Zstd:
		return zstdEnc.EncodeAll(raw, nil)
	default:
		return raw
	}
	return buf.Bytes()
}

// EndTxnMarker builds, with kmsg's encoders, the control batch a Kafka
// broker writes to end producer p's transaction: one record whose key is
// ControlRecordKey{0, ABORT or COMMIT} and whose value is EndTxnMarker{0,
// coordinatorEpoch}, transactional and control attributes, no sequence.
func EndTxnMarker(p Producer, commit bool, coordinatorEpoch int32, ts int64) []byte {
	key := kmsg.ControlRecordKey{Type: kmsg.ControlRecordKeyType(0)}
	if commit {
		key.Type = 1
	}
	val := kmsg.EndTxnMarker{CoordinatorEpoch: coordinatorEpoch}
	recs := []record.Record{{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}}
	o := Options{Producer: &Producer{ID: p.ID, Epoch: p.Epoch, Sequence: -1}, Transactional: true, Control: true, BaseTimestamp: ts}
	return Batch(o, recs)
}
