package record

import (
	"encoding/binary"
	"fmt"
)

// Build encodes recs as one uncompressed batch with no producer (the form
// the broker writes for its own internal topics), base timestamp ts and
// offset deltas 0..n-1; the base offset is left 0 for the log to stamp.
// Each Record's OffsetDelta is ignored; TimestampDelta is kept.
func Build(ts int64, recs []Record) []byte {
	return build(ts, recs, -1, -1, 0)
}

// BuildTransactional is Build for a transaction coordinator writing on a
// producer's behalf (a group coordinator's TxnOffsetCommit): a
// transactional batch of producerID at producerEpoch with no sequence
// (-1), which the producer's marker ends like its own batches.
func BuildTransactional(ts int64, recs []Record, producerID int64, producerEpoch int16) []byte {
	return build(ts, recs, producerID, producerEpoch, attrTransactional)
}

func build(ts int64, recs []Record, producerID int64, producerEpoch int16, attrs uint16) []byte {
	b := make([]byte, HeaderSize, HeaderSize+64*len(recs))
	var maxDelta int64
	for i, r := range recs {
		b = appendRecord(b, int32(i), r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthOverhead))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint32(b[offLastDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts+maxDelta))
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(producerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0xffffffff)
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// appendRecord appends one record: its varint length, then attributes,
// timestamp delta, offset delta, key, value and headers.
func appendRecord(dst []byte, offsetDelta int32, r Record) []byte {
	body := []byte{0} // attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = appendVarBytes(body, []byte(h.Key))
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// appendVarBytes writes a varint length (-1 for nil) and the bytes.
func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// Rebuild encodes recs as one batch that keeps h's header fields (base
// offset, leader epoch, attributes and so codec, lastOffsetDelta,
// timestamps, producer id, epoch and base sequence) and each record's
// OffsetDelta and TimestampDelta; records are compressed with h's codec.
// This is how the log cleaner rewrites a batch without changing offsets.
// With no records it returns the bare uncompressed header Kafka keeps for
// an idempotent producer's last batch. Record attributes are written as 0
// (unused in v2).
func Rebuild(h BatchHeader, recs []Record) ([]byte, error) {
	var raw []byte
	for _, r := range recs {
		raw = appendRecord(raw, r.OffsetDelta, r)
	}
	attrs := h.Attributes
	if len(recs) == 0 {
		attrs &^= attrCodecMask
	}
	body, err := compress(Codec(attrs&attrCodecMask), raw)
	if err != nil {
		return nil, fmt.Errorf("rebuild batch at %d: %w", h.BaseOffset, err)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offLength:], uint32(HeaderSize-lengthOverhead+len(body)))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(len(recs)))
	b = append(b, body...)
	be.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// WithDeleteHorizon returns h marked with a delete horizon (KIP-534) at
// horizon: the base timestamp becomes the horizon, so callers must re-base
// record timestamp deltas on it.
func (h BatchHeader) WithDeleteHorizon(horizon int64) BatchHeader {
	h.Attributes |= attrDeleteHorizon
	h.BaseTimestamp = horizon
	return h
}
