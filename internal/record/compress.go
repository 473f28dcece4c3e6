package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// xerialBlockSize is the uncompressed size of each snappy block, as Java's
// snappy-java writes them.
const xerialBlockSize = 32 << 10

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdEncErr  error
)

// compress encodes raw records with codec c, in the framing every Kafka
// client reads: gzip and LZ4 frames, xerial-framed snappy, a zstd frame.
func compress(c Codec, raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case None:
		return raw, nil
	case Gzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case Snappy:
		return xerial(raw), nil
	case LZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case Zstd:
		zstdEncOnce.Do(func() { zstdEnc, zstdEncErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)) })
		if zstdEncErr != nil {
			return nil, zstdEncErr
		}
		return zstdEnc.EncodeAll(raw, nil), nil
	default:
		return nil, fmt.Errorf("%w: unknown codec %d", ErrInvalid, c)
	}
	return buf.Bytes(), nil
}

// xerial frames raw as snappy-java does: header, then length-prefixed
// blocks of at most xerialBlockSize uncompressed bytes.
func xerial(raw []byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // compatible version
	for len(raw) > 0 {
		n := min(len(raw), xerialBlockSize)
		blk := s2.EncodeSnappy(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		raw = raw[n:]
	}
	return out
}
