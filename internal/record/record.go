// Package record owns Kafka's RecordBatch v2 format: parsing and validating
// batch headers, in-place stamping of the fields a broker assigns, and full
// decoding (with decompression) for the slow paths that need records.
//
// Every function is pure and safe for concurrent use on distinct buffers.
// Decoders never panic on any input and bound every length before
// allocating. Validate does not allocate. ValidateProduce, the produce
// path's full check, streams compressed records through pooled decoders and
// waits for one of GOMAXPROCS decoding slots, which bounds the memory and
// CPU that validation takes across the process.
//
// A v2 batch on the wire (big endian; varints are zig-zag):
//
//	offset  size  field
//	     0     8  baseOffset            \ not covered by the CRC; a broker
//	     8     4  batchLength (bytes   | stamps baseOffset and
//	              after this field)    | partitionLeaderEpoch in place
//	    12     4  partitionLeaderEpoch /
//	    16     1  magic (2)
//	    17     4  crc (CRC-32C of bytes 21..end)
//	    21     2  attributes
//	    23     4  lastOffsetDelta
//	    27     8  baseTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  recordCount
//	    61     …  records (compressed as a whole when attributes say so)
//
// See docs/format/segment.md for the record layout.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the number of bytes of a v2 batch header, from baseOffset
// through recordCount.
const HeaderSize = 61

// Header field offsets within a batch.
const (
	offBaseOffset    = 0
	offLength        = 8
	offLeaderEpoch   = 12
	offMagic         = 16
	offCRC           = 17
	offAttributes    = 21
	offLastDelta     = 23
	offBaseTimestamp = 27
	offMaxTimestamp  = 35
	offProducerID    = 43
	offProducerEpoch = 51
	offBaseSequence  = 53
	offNumRecords    = 57

	// lengthOverhead is the number of bytes before (and including) the
	// batchLength field: Size() = lengthOverhead + Length.
	lengthOverhead = 12
	// MinLength is the smallest valid batchLength: a header with no records.
	minLength = HeaderSize - lengthOverhead
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	// attrDeleteHorizon says baseTimestamp holds the time after which the
	// cleaner may drop the batch's tombstones (KIP-534).
	attrDeleteHorizon = 0x40
)

// Codec is the compression codec of a batch (attributes bits 0-2).
type Codec int8

// The codecs Kafka defines.
const (
	None Codec = iota
	Gzip
	Snappy
	LZ4
	Zstd
)

// String returns Kafka's name for the codec.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors returned by this package. The storage layer wraps them; the API
// handler maps them to Kafka error codes.
var (
	// ErrCorrupt means the CRC does not match (CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("record: corrupt batch")
	// ErrInvalid means bad framing, sizes or counts (INVALID_RECORD).
	ErrInvalid = errors.New("record: invalid batch")
	// ErrUnsupportedMagic means a magic other than 2.
	ErrUnsupportedMagic = errors.New("record: unsupported magic")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed-size header of a v2 batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec returns the compression codec from the attributes.
func (h BatchHeader) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// LastOffset returns the offset of the last record of the batch.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size returns the total number of bytes of the batch on the wire.
func (h BatchHeader) Size() int { return lengthOverhead + int(h.Length) }

// IsTransactional reports the transactional attribute bit.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control attribute bit (transaction markers).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// HasDeleteHorizon reports whether the cleaner has set the batch's delete
// horizon (KIP-534): then BaseTimestamp is the time after which its
// tombstones may be removed.
func (h BatchHeader) HasDeleteHorizon() bool { return h.Attributes&attrDeleteHorizon != 0 }

// HasLogAppendTime reports whether the broker stamped the timestamps.
func (h BatchHeader) HasLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// ParseHeader decodes the header at the start of b. It checks bounds only:
// b must hold at least HeaderSize bytes; the CRC and magic are not checked.
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) < HeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrInvalid, len(b), HeaderSize)
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// Checksum computes the CRC-32C that a batch's crc field must hold.
// b must hold at least HeaderSize bytes.
func Checksum(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// SetBaseOffset stamps the base offset in place; the CRC does not cover it.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch stamps the leader epoch in place; the CRC does not
// cover it.
func SetPartitionLeaderEpoch(b []byte, e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch as LogAppendTime, sets its maxTimestamp
// to ts and recomputes the CRC. b must be one whole batch.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | attrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], Checksum(b))
}
