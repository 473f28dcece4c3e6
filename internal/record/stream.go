package record

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// chunker yields a decompressed stream piece by piece; a piece stays valid
// until the next call. io.EOF ends the stream.
type chunker interface {
	next() ([]byte, error)
}

// maxEmptyReads bounds consecutive reads that return nothing, so a decoder
// that stops making progress cannot spin forever.
const maxEmptyReads = 100

// stream reads the records of a compressed batch without holding them: it
// skips keys, values and header bytes as it goes, so memory stays at one
// piece whatever the records' sizes. Every varint within a record is
// charged to the record's declared length.
type stream struct {
	src   chunker
	chunk []byte // unread part of the current piece
	total int64  // decompressed bytes seen so far
	limit int64  // MaxDecompressedBytes
	err   error  // why the stream ended: io.EOF, a decoder error, errTooLarge
	short bool   // bytes were wanted after the end
}

// more loads the next piece; false means the stream ended (see s.err).
func (s *stream) more() bool {
	for empty := 0; len(s.chunk) == 0; empty++ {
		if s.err != nil {
			s.short = true
			return false
		}
		if empty == maxEmptyReads {
			s.err = io.ErrNoProgress
			return false
		}
		var c []byte
		c, s.err = s.src.next()
		s.total += int64(len(c))
		if s.total > s.limit {
			s.chunk, s.err = nil, errTooLarge
			return false
		}
		s.chunk = c
	}
	return true
}

func (s *stream) byte() (byte, bool) {
	if len(s.chunk) == 0 && !s.more() {
		return 0, false
	}
	c := s.chunk[0]
	s.chunk = s.chunk[1:]
	return c, true
}

func (s *stream) skip(n int) bool {
	for n > 0 {
		if len(s.chunk) == 0 && !s.more() {
			return false
		}
		k := min(n, len(s.chunk))
		s.chunk = s.chunk[k:]
		n -= k
	}
	return true
}

// varlong reads a zig-zag varint, charging its bytes to *left; it fails if
// they overrun *left. The same encoding rules as uvarint apply.
func (s *stream) varlong(left *int) (int64, bool) {
	var x uint64
	var sh uint
	for n := 0; n < 10; n++ {
		c, ok := s.byte()
		if !ok {
			return 0, false
		}
		*left--
		if c < 0x80 {
			if n == 9 && c > 1 {
				return 0, false
			}
			x |= uint64(c) << sh
			return int64(x>>1) ^ -int64(x&1), *left >= 0
		}
		x |= uint64(c&0x7f) << sh
		sh += 7
	}
	return 0, false
}

// varint is varlong for values that must fit in an int32.
func (s *stream) varint(left *int) (int32, bool) {
	v, ok := s.varlong(left)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// bytes skips a length-prefixed field (-1 is null unless nonNull) within
// the record and returns its length.
func (s *stream) bytes(left *int, nonNull bool) (int, bool) {
	n, ok := s.varint(left)
	if !ok || n < -1 || nonNull && n < 0 || int(n) > *left {
		return 0, false
	}
	*left -= max(int(n), 0)
	return int(n), s.skip(max(int(n), 0))
}

// walk checks that the stream holds exactly n records with offset deltas
// 0..n-1 and returns the indexes of records without a key when keys.
func (s *stream) walk(n int32, keys bool, c Codec) ([]int32, error) {
	var keyless []int32
	for i := range n {
		delta, klen, bad := s.record()
		if bad == "" && delta != i {
			bad = fmt.Sprintf("offset delta %d", delta)
		}
		if bad != "" {
			return nil, s.fail(c, fmt.Sprintf("record %d: bad %s", i, bad))
		}
		if keys && klen < 0 {
			keyless = append(keyless, i)
		}
	}
	if len(s.chunk) > 0 || s.more() {
		return nil, fmt.Errorf("%w: %s: bytes left after %d records", ErrInvalid, c, n)
	}
	// Reaching the end also verified the codec's trailing checksum.
	if !errors.Is(s.err, io.EOF) {
		return nil, s.fail(c, "")
	}
	return keyless, nil
}

// fail explains why walking stopped: the decoder's error or the size limit
// when the stream broke, its early end, else what the framing check found.
func (s *stream) fail(c Codec, what string) error {
	switch {
	case errors.Is(s.err, errTooLarge):
		return fmt.Errorf("%w: %s: decompressed size exceeds %d bytes", ErrInvalid, c, s.limit)
	case s.err != nil && !errors.Is(s.err, io.EOF):
		return fmt.Errorf("%w: cannot decompress %s: %v", ErrInvalid, c, s.err)
	case s.short:
		return fmt.Errorf("%w: %s: stream ends early (%s)", ErrInvalid, c, what)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, c, what)
}

// record checks one record's framing and returns its offset delta and key
// length (-1 for null), or what is bad.
func (s *stream) record() (delta int32, klen int, bad string) {
	unbounded := math.MaxInt
	l, ok := s.varint(&unbounded)
	if !ok || l < minRecordSize-1 {
		return 0, 0, "record length"
	}
	left := int(l) - 1
	if _, ok := s.byte(); !ok {
		return 0, 0, "attributes"
	}
	if _, ok := s.varlong(&left); !ok {
		return 0, 0, "timestamp delta"
	}
	if delta, ok = s.varint(&left); !ok || delta < 0 {
		return 0, 0, "offset delta"
	}
	if klen, ok = s.bytes(&left, false); !ok {
		return 0, 0, "key"
	}
	if _, ok := s.bytes(&left, false); !ok {
		return 0, 0, "value"
	}
	if !s.headers(&left) {
		return 0, 0, "headers"
	}
	if left != 0 {
		return 0, 0, "record length"
	}
	return delta, klen, ""
}

// headers skips a record's headers; keys may not be null.
func (s *stream) headers(left *int) bool {
	nh, ok := s.varint(left)
	if !ok || nh < 0 || int(nh) > *left/2 {
		return false
	}
	for range nh {
		if _, ok := s.bytes(left, true); !ok {
			return false
		}
		if _, ok := s.bytes(left, false); !ok {
			return false
		}
	}
	return true
}
