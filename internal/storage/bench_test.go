package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// benchBatch is 16 records of 1 KiB stamped now: old timestamps would make
// segment.ms roll a segment per batch, as in Kafka.
func benchBatch() []byte {
	return recordtest.Batch(recordtest.Options{BaseTimestamp: time.Now().UnixMilli()}, recordtest.Values(16, 1024))
}

func benchLog(b *testing.B) *Log {
	cfg := Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	m, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	l, err := m.CreateLog("bench", 0, DefaultLogConfig())
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkAppend(b *testing.B) {
	batch := benchBatch()
	for _, sync := range []bool{false, true} {
		name := map[bool]string{false: "sync=false", true: "sync=true"}[sync]
		b.Run(name, func(b *testing.B) {
			l := benchLog(b)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(context.Background(), batch, AppendOptions{Sync: sync}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			l := benchLog(b)
			b.SetBytes(int64(len(batch)))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(context.Background(), batch, AppendOptions{Sync: sync}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkRead(b *testing.B) {
	l := benchLog(b)
	batch := benchBatch()
	const n = 2000
	for range n {
		if _, err := l.Append(context.Background(), batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range res.Chunks {
			if _, err := c.File.ReadAt(make([]byte, 1), c.Pos); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
		off = (off + 16*37) % (n * 16)
	}
}

// BenchmarkClean measures one cleaning of a 32 MiB log of updates over
// 10,000 keys, uncompressed and with zstd; it reports MB/s of log cleaned.
func BenchmarkClean(b *testing.B) {
	for _, c := range []record.Codec{record.None, record.Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			b.StopTimer()
			for range b.N {
				cfg := Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler), CleanerThreads: -1}
				m, err := Open(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				lc := compactConfig()
				lc.SegmentBytes = 16 << 20
				l := createLog(b, m, lc)
				fillUpdates(b, l, c, 32<<20, 10_000)
				size := l.Size()
				b.StartTimer()
				if !m.cleaner.cleanOne(context.Background()) {
					b.Fatal("nothing cleaned")
				}
				b.StopTimer()
				b.SetBytes(size)
				m.Close()
			}
		})
	}
}

// fillUpdates appends batches of 100 updates with 200-byte values until
// the log holds size bytes, then rolls. Values are random hex digits.
func fillUpdates(b *testing.B, l *Log, c record.Codec, size int64, keys int) {
	val := make([]byte, 200)
	for i := 0; l.Size() < size; i++ {
		recs := make([]record.Record, 100)
		for j := range recs {
			n := i*100 + j
			for k := range val {
				val[k] = "0123456789abcdef"[rand.IntN(16)] // compresses about 2:1, like text
			}
			recs[j] = record.Record{OffsetDelta: int32(j), Key: fmt.Appendf(nil, "key-%05d", n%keys), Value: bytes.Clone(val)}
		}
		mustAppend(b, l, recordtest.Batch(recordtest.Options{Codec: c}, recs), false)
	}
	if err := l.requestRoll(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify measures what checking stored batches costs: the
// verification of every batch of a log found on disk (what the background
// verifier does, unthrottled, and what opening would cost if it verified
// everything), and a clean open, which verifies nothing up front. The log
// is EDDY_VERIFY_BENCH_MB (default 256) of 16 KiB batches; b.SetBytes
// makes the rate comparable across sizes.
func BenchmarkVerify(b *testing.B) {
	mb := int64(256)
	if v, err := strconv.ParseInt(os.Getenv("EDDY_VERIFY_BENCH_MB"), 10, 64); err == nil && v > 0 {
		mb = v
	}
	dir := b.TempDir()
	cfg := Config{Dir: dir, Logger: slog.New(slog.DiscardHandler), VerifyBytesPerSecond: -1}
	m, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.CreateLog("bench", 0, DefaultLogConfig())
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch()
	for l.Size() < mb<<20 {
		if _, err := l.Append(context.Background(), bytes.Repeat(batch, 64), AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	size := l.Size()
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			m, err := Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
	b.Run("verify-all", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			m, err := Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Log("bench", 0).verifyAll(context.Background(), newThrottle(0)); err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
}
