package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

const (
	// windowSize is the decompressed bytes a stream holds at a time.
	windowSize = 32 << 10
	// maxKeptScratch is the largest snappy block buffer an inflater keeps
	// for reuse; a larger one is dropped after its batch.
	maxKeptScratch = 1 << 20
)

var errTooLarge = errors.New("decompressed size exceeds the limit")

// An inflater holds one of each decoder, a window and the reader over the
// compressed payload, reused across batches (Kafka's BufferSupplier).
type inflater struct {
	src     bytes.Reader
	window  [windowSize]byte
	scratch []byte // a decoded snappy block
	gz      gzip.Reader
	lz      *lz4.Reader
	zd      *zstd.Decoder
	zdLimit int // the MaxDecompressedBytes zd was made with
	s       stream

	// What next reads from: a decompressor, the xerial blocks not yet
	// decoded, or a raw snappy block not yet decoded.
	r      io.Reader
	xerial []byte
	raw    []byte
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

func getInflater() *inflater { return inflaters.Get().(*inflater) }

// putInflater drops every reference to the batch before pooling v.
func putInflater(v *inflater) {
	v.src.Reset(nil)
	v.r, v.xerial, v.raw = nil, nil, nil
	v.s = stream{}
	if cap(v.scratch) > maxKeptScratch {
		v.scratch = nil
	}
	inflaters.Put(v)
}

// open returns the stream of the records compressed in payload with c.
func (v *inflater) open(c Codec, payload []byte) (*stream, error) {
	v.src.Reset(payload)
	v.s = stream{src: v, limit: int64(MaxDecompressedBytes)}
	switch c {
	case Gzip:
		if err := v.gz.Reset(&v.src); err != nil {
			return nil, err
		}
		v.r = &v.gz
	case LZ4:
		if v.lz == nil {
			v.lz = lz4.NewReader(nil)
		}
		v.lz.Reset(&v.src)
		v.r = v.lz
	case Zstd:
		if err := v.resetZstd(); err != nil {
			return nil, err
		}
		v.r = v.zd
	case Snappy:
		if err := v.openSnappy(payload); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown codec %d", c)
	}
	return &v.s, nil
}

// next returns the next decompressed bytes; the stream consumes them before
// asking again.
func (v *inflater) next() ([]byte, error) {
	switch {
	case v.r != nil:
		n, err := v.r.Read(v.window[:])
		return v.window[:n], err
	case v.raw != nil:
		b := v.raw
		v.raw = nil
		return v.snappyBlock(b)
	default:
		return v.nextXerial()
	}
}

func (v *inflater) resetZstd() error {
	if v.zd == nil || v.zdLimit != MaxDecompressedBytes {
		// One synchronous decoder (no goroutines) whose window may not
		// exceed what a batch may decompress to; made again should the
		// bound change (tests lower it), as a pooled one keeps its own.
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(MaxDecompressedBytes)))
		if err != nil {
			return err
		}
		if v.zd != nil {
			v.zd.Close()
		}
		v.zd, v.zdLimit = d, MaxDecompressedBytes
	}
	return v.zd.Reset(&v.src)
}

// openSnappy streams xerial-framed snappy block by block; a raw snappy
// block (what librdkafka and franz-go write) is decoded whole, its size
// bounded first.
func (v *inflater) openSnappy(payload []byte) error {
	if !bytes.HasPrefix(payload, xerialMagic) {
		v.raw = payload
		return nil
	}
	if len(payload) < xerialHeaderSize {
		return fmt.Errorf("short xerial header")
	}
	v.xerial = payload[xerialHeaderSize:]
	return nil
}

// nextXerial decodes the next length-prefixed xerial block.
func (v *inflater) nextXerial() ([]byte, error) {
	rest := v.xerial
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if len(rest) < 4 {
		return nil, fmt.Errorf("short xerial block length")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("xerial block of %d bytes exceeds %d remaining", n, len(rest))
	}
	v.xerial = rest[n:]
	return v.snappyBlock(rest[:n])
}

// snappyBlock decodes one raw block into the scratch buffer, refusing a
// block that claims more than the batch may still decompress to.
func (v *inflater) snappyBlock(block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if int64(n) > v.s.limit-v.s.total {
		return nil, errTooLarge
	}
	out, err := s2.Decode(v.scratch[:0], block)
	if err != nil {
		return nil, err
	}
	v.scratch = out
	return out, nil
}
