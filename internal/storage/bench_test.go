package storage

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

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
