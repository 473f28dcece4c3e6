package coordinator

import (
	"context"
	"fmt"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// replayChunk is the read size of a replay.
const replayChunk = 1 << 20

// Replay feeds every batch of l, from its start to its end, to apply,
// whole and in order.
//
// It reads up to the log end, not the high watermark, as Kafka's
// coordinators load: a new leader's high watermark lags the old leader's
// by a fetch round trip, and records between the two were acknowledged
// (appends wait for the ISR): the new leader's log is the truth, and its
// high watermark moves past them once the followers fetch again.
func Replay(ctx context.Context, l *replica.Partition, apply func(batch []byte)) error {
	end := l.LogEndOffset()
	for off := l.LogStartOffset(); off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := l.ReadReplica(off, replayChunk, true)
		if err != nil {
			return fmt.Errorf("coordinator: replay read at %d: %w", off, err)
		}
		next, err := replayChunks(res.Chunks, apply)
		res.Release()
		if err != nil {
			return err
		}
		if next <= off {
			return nil
		}
		off = next
	}
	return nil
}

// replayChunks replays whole batches and returns the offset after the last.
func replayChunks(chunks []storage.Chunk, apply func([]byte)) (int64, error) {
	var next int64 = -1
	for _, ch := range chunks {
		b, err := ch.ReadAll()
		if err != nil {
			return next, fmt.Errorf("coordinator: replay chunk: %w", err)
		}
		for len(b) >= record.HeaderSize {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				return next, fmt.Errorf("%w: header: %v", errBadBatch, err)
			}
			next = h.LastOffset() + 1
			apply(b[:h.Size()])
			b = b[h.Size():]
		}
	}
	return next, nil
}
