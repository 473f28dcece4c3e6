package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedBytes bounds the decompressed size of one batch's records,
// so that a small hostile batch cannot exhaust memory.
var MaxDecompressedBytes = 64 << 20

// Record is one decoded record of a batch.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte // nil means null
	Headers        []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte // nil means null
}

// Records validates and decodes the single batch in b. For uncompressed
// batches Key and Value alias b. Offset deltas may have gaps and a batch may
// hold no records (both left by the log cleaner), but deltas must increase.
func Records(b []byte) (BatchHeader, []Record, error) {
	h, err := checkBatch(b, true)
	if err != nil {
		return h, nil, err
	}
	data, err := decompress(h.Codec(), b[HeaderSize:])
	if err != nil {
		return h, nil, err
	}
	if int64(h.NumRecords)*minRecordSize > int64(len(data)) {
		return h, nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalid, h.NumRecords, len(data))
	}
	recs, err := decodeRecords(data, h)
	return h, recs, err
}

func decodeRecords(data []byte, h BatchHeader) ([]Record, error) {
	recs := make([]Record, 0, h.NumRecords)
	pos := 0
	last := int32(-1)
	for i := int32(0); i < h.NumRecords; i++ {
		body, next, err := nextRecord(data, pos)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		r, err := decodeRecord(body)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if r.OffsetDelta <= last || r.OffsetDelta > h.LastOffsetDelta {
			return nil, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, r.OffsetDelta)
		}
		last = r.OffsetDelta
		recs = append(recs, r)
		pos = next
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes after %d records", ErrInvalid, len(data)-pos, h.NumRecords)
	}
	return recs, nil
}

// decodeRecord decodes one record body, first checking its framing so the
// reads below cannot fail.
func decodeRecord(body []byte) (Record, error) {
	if _, err := walkRecord(body); err != nil {
		return Record{}, err
	}
	var r Record
	p := 1
	r.TimestampDelta, p, _ = varlong(body, p)
	r.OffsetDelta, p, _ = varint(body, p)
	r.Key, p = readBytes(body, p)
	r.Value, p = readBytes(body, p)
	nh, p, _ := varint(body, p)
	if nh > 0 {
		r.Headers = make([]Header, nh)
	}
	for i := range r.Headers {
		var k []byte
		k, p = readBytes(body, p)
		r.Headers[i].Key = string(k)
		r.Headers[i].Value, p = readBytes(body, p)
	}
	return r, nil
}

// readBytes reads a length-prefixed byte slice already bounds-checked by
// walkRecord; -1 yields nil and 0 a non-nil empty slice.
func readBytes(b []byte, p int) ([]byte, int) {
	n, p, _ := bytesLen(b, p)
	if n < 0 {
		return nil, p
	}
	return b[p : p+n : p+n], p + n
}

func decompress(c Codec, src []byte) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch c {
	case None:
		return src, nil
	case Gzip:
		out, err = gunzip(src)
	case Snappy:
		out, err = unsnappy(src)
	case LZ4:
		out, err = readLimited(lz4.NewReader(bytes.NewReader(src)))
	case Zstd:
		out, err = unzstd(src)
	default:
		err = fmt.Errorf("unknown codec %d", c)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, c, err)
	}
	return out, nil
}

func gunzip(src []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readLimited(zr)
}

// readLimited reads r to the end, failing beyond MaxDecompressedBytes.
func readLimited(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(MaxDecompressedBytes)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxDecompressedBytes {
		return nil, fmt.Errorf("decompressed size exceeds %d bytes", MaxDecompressedBytes)
	}
	return out, nil
}

// zstdDecoders holds one decoder per decompression limit: a decoder's
// memory bound is fixed when it is made, and the limit is a variable
// (tests lower it).
var zstdDecoders sync.Map // int → *zstd.Decoder

func zstdDecoder(limit int) (*zstd.Decoder, error) {
	if d, ok := zstdDecoders.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(uint64(limit)))
	if err != nil {
		return nil, err
	}
	actual, loaded := zstdDecoders.LoadOrStore(limit, d)
	if loaded {
		d.Close()
	}
	return actual.(*zstd.Decoder), nil
}

func unzstd(src []byte) ([]byte, error) {
	limit := MaxDecompressedBytes
	dec, err := zstdDecoder(limit)
	if err != nil {
		return nil, err
	}
	out, err := dec.DecodeAll(src, nil)
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("decompressed size exceeds %d bytes", limit)
	}
	return out, nil
}

// xerialMagic starts the framing that Java's snappy-java writes: the magic,
// a version and a compatible version (int32 each), then blocks each prefixed
// by a big-endian int32 length.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// unsnappy decodes Kafka's snappy payloads, xerial-framed or raw blocks.
func unsnappy(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(nil, src)
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("short xerial header")
	}
	var out []byte
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("short xerial block length")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("xerial block of %d bytes exceeds %d remaining", n, len(rest))
		}
		var err error
		if out, err = snappyBlock(out, rest[:n]); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return out, nil
}

// snappyBlock appends one decoded raw snappy block to dst, bounding the
// claimed decoded size first.
func snappyBlock(dst, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > MaxDecompressedBytes-len(dst) {
		return nil, fmt.Errorf("decompressed size exceeds %d bytes", MaxDecompressedBytes)
	}
	dec, err := s2.Decode(nil, block)
	if err != nil {
		return nil, err
	}
	return append(dst, dec...), nil
}
