package record

import "fmt"

// minRecordSize is the smallest encoded record: a length varint, the
// attributes byte and five one-byte varints (timestamp delta, offset delta,
// key length, value length, header count).
const minRecordSize = 7

// Validate checks that b is exactly one well-formed v2 batch and returns its
// header: magic 2, a consistent length, at least one record with
// lastOffsetDelta == recordCount-1, a matching CRC-32C and, for uncompressed
// batches, sound framing of every record. It does not allocate.
func Validate(b []byte) (BatchHeader, error) {
	h, err := checkBatch(b, false)
	if err != nil {
		return h, err
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	if h.Codec() != None {
		return h, nil
	}
	if err := walkRecords(b[HeaderSize:], h.NumRecords, h.LastOffsetDelta, true); err != nil {
		return h, err
	}
	return h, nil
}

// ValidateStored is Validate for batches read back from a log, which the
// log cleaner may have rewritten as Kafka's does: records keep their offset
// deltas, so deltas may have gaps (they must still increase and stay within
// lastOffsetDelta), and a batch may hold no records at all (the header an
// idempotent producer's last batch leaves behind). Never use it on produce.
func ValidateStored(b []byte) (BatchHeader, error) {
	h, err := checkBatch(b, true)
	if err != nil || h.Codec() != None {
		return h, err
	}
	return h, walkRecords(b[HeaderSize:], h.NumRecords, h.LastOffsetDelta, false)
}

// checkBatch validates everything Validate does except the record framing
// and the strict offset-delta rule (which compaction relaxes). With stored,
// an uncompressed batch of no records (a cleaned producer marker) passes.
func checkBatch(b []byte, stored bool) (BatchHeader, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Length < minLength || int64(h.Length)+lengthOverhead != int64(len(b)) {
		return h, fmt.Errorf("%w: batch length %d for %d bytes", ErrInvalid, h.Length, len(b))
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: %d", ErrUnsupportedMagic, h.Magic)
	}
	minRecords := int32(1)
	if stored {
		minRecords = 0
	}
	if h.NumRecords < minRecords || h.LastOffsetDelta < max(h.NumRecords-1, 0) {
		return h, fmt.Errorf("%w: %d records, lastOffsetDelta %d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	if sum := Checksum(b); sum != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, h.CRC, sum)
	}
	if h.Codec() > Zstd {
		return h, fmt.Errorf("%w: unknown codec %d", ErrInvalid, h.Codec())
	}
	if h.NumRecords == 0 && h.Codec() != None {
		return h, fmt.Errorf("%w: empty batch with codec %s", ErrInvalid, h.Codec())
	}
	if h.Codec() == None && int64(h.NumRecords)*minRecordSize > int64(len(b)-HeaderSize) {
		return h, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalid, h.NumRecords, len(b)-HeaderSize)
	}
	return h, nil
}

// walkRecords checks the framing of n records filling recs exactly. With
// strict, offset deltas must be 0..n-1; otherwise they must increase and not
// exceed lastDelta.
func walkRecords(recs []byte, n, lastDelta int32, strict bool) error {
	pos, prev := 0, int32(-1)
	for i := int32(0); i < n; i++ {
		body, next, err := nextRecord(recs, pos)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		delta, err := walkRecord(body)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if strict && delta != i || delta <= prev || delta > lastDelta {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, delta)
		}
		pos, prev = next, delta
	}
	if pos != len(recs) {
		return fmt.Errorf("%w: %d trailing bytes after %d records", ErrInvalid, len(recs)-pos, n)
	}
	return nil
}

// nextRecord returns the body of the length-prefixed record at recs[pos:]
// and the position after it.
func nextRecord(recs []byte, pos int) ([]byte, int, error) {
	l, p, ok := varint(recs, pos)
	if !ok || l < minRecordSize-1 || int(l) > len(recs)-p {
		return nil, 0, fmt.Errorf("%w: bad record length", ErrInvalid)
	}
	end := p + int(l)
	return recs[p:end], end, nil
}

// walkRecord checks one record body and returns its offset delta.
func walkRecord(body []byte) (int32, error) {
	bad := func(what string) (int32, error) {
		return 0, fmt.Errorf("%w: bad %s", ErrInvalid, what)
	}
	p := 1 // attributes
	_, p, ok := varlong(body, p)
	if !ok {
		return bad("timestamp delta")
	}
	delta, p, ok := varint(body, p)
	if !ok || delta < 0 {
		return bad("offset delta")
	}
	for _, what := range [2]string{"key", "value"} {
		var n int
		if n, p, ok = bytesLen(body, p); !ok {
			return bad(what)
		}
		p += max(n, 0)
	}
	nh, p, ok := varint(body, p)
	if !ok || nh < 0 || int(nh) > (len(body)-p)/2 {
		return bad("header count")
	}
	for range nh {
		if p, ok = walkHeader(body, p); !ok {
			return bad("header")
		}
	}
	if p != len(body) {
		return bad("record length")
	}
	return delta, nil
}

// walkHeader skips one record header; keys may not be null.
func walkHeader(body []byte, p int) (int, bool) {
	n, p, ok := bytesLen(body, p)
	if !ok || n < 0 {
		return p, false
	}
	p += n
	if n, p, ok = bytesLen(body, p); !ok {
		return p, false
	}
	return p + max(n, 0), true
}
