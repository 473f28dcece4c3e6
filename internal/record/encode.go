package record

import (
	"encoding/binary"
)

// Build encodes recs as one uncompressed batch with no producer (the form
// the broker writes for its own internal topics), base timestamp ts and
// offset deltas 0..n-1; the base offset is left 0 for the log to stamp.
// Each Record's OffsetDelta is ignored; TimestampDelta is kept.
func Build(ts int64, recs []Record) []byte {
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
	binary.BigEndian.PutUint64(b[offProducerID:], 0xffffffffffffffff)
	binary.BigEndian.PutUint16(b[offProducerEpoch:], 0xffff)
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
