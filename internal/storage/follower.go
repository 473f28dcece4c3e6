package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// AppendAsFollower appends batches fetched from the partition leader as
// they are: their offsets, timestamps and leader epochs are the leader's.
// Each batch must pass the checks of a stored batch (framing, CRC, records)
// and the first must start at the log end offset, the others right after
// the batch before (else ErrOffsetMismatch); leader epochs must not go
// below the log's latest (else ErrFencedLeaderEpoch). Producer state is
// updated from the batches without the idempotence checks, which the
// leader made, so that a follower that becomes leader deduplicates the
// same retries. Like Append it goes through the writer's group commit; the
// result's BaseOffset is the first batch's.
func (l *Log) AppendAsFollower(ctx context.Context, batches []byte, opts AppendOptions) (AppendResult, error) {
	hdrs, err := splitFollowerBatches(batches, l.Config().MaxMessageBytes)
	var markers []*record.EndTxnMarker
	if err == nil {
		markers, err = parseMarkers(batches, hdrs)
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s as follower: %w", partitionDirName(l.topic, l.partition), err)
	}
	return l.submit(ctx, &appendReq{data: batches, hdrs: hdrs, markers: markers, sync: opts.Sync, follower: true, epoch: -1, done: make(chan struct{})})
}

// splitFollowerBatches validates whole stored batches whose offsets and
// leader epochs follow each other.
func splitFollowerBatches(b []byte, maxBytes int64) ([]record.BatchHeader, error) {
	return eachBatch(b, maxBytes, func(batch []byte, before []record.BatchHeader) (record.BatchHeader, error) {
		h, err := record.Validate(batch)
		if err == nil {
			err = followsBatch(before, h)
		}
		return h, err
	})
}

func followsBatch(hdrs []record.BatchHeader, h record.BatchHeader) error {
	if h.PartitionLeaderEpoch < 0 || h.BaseOffset < 0 {
		return fmt.Errorf("%w: batch at offset %d with leader epoch %d", record.ErrInvalid, h.BaseOffset, h.PartitionLeaderEpoch)
	}
	if len(hdrs) == 0 {
		return nil
	}
	prev := hdrs[len(hdrs)-1]
	if h.BaseOffset != prev.LastOffset()+1 {
		return fmt.Errorf("%w: batch at %d follows one ending at %d", ErrOffsetMismatch, h.BaseOffset, prev.LastOffset())
	}
	if h.PartitionLeaderEpoch < prev.PartitionLeaderEpoch {
		return fmt.Errorf("%w: epoch %d after %d", ErrFencedLeaderEpoch, h.PartitionLeaderEpoch, prev.PartitionLeaderEpoch)
	}
	return nil
}

// stageFollower stages a follower's batches at the log end, recording
// their producers' sequences without checking them. Like stageReq it
// returns only I/O failures.
func (l *Log) stageFollower(g *group, r *appendReq, cfg LogConfig, now time.Time) error {
	first := r.hdrs[0]
	switch {
	case first.BaseOffset != g.next:
		r.err = fmt.Errorf("%w: batches start at %d, log end offset is %d", ErrOffsetMismatch, first.BaseOffset, g.next)
	case first.PartitionLeaderEpoch < g.latest:
		r.err = fmt.Errorf("%w: epoch %d, latest %d", ErrFencedLeaderEpoch, first.PartitionLeaderEpoch, g.latest)
	}
	if r.err != nil {
		close(r.done)
		return nil
	}
	l.recordProducers(g, r)
	r.res = AppendResult{BaseOffset: g.next, LogAppendTime: -1}
	for i, h := range r.hdrs {
		if err := l.stageBatch(g, r.data[:h.Size()], h, cfg, now, -1); err != nil {
			return err
		}
		g.stageTxn(r.event(i))
		r.data = r.data[h.Size():]
	}
	g.sync = g.sync || r.sync
	g.staged = append(g.staged, r)
	return nil
}

// recordProducers applies the batches to the producer state, keeping the
// entries they replace in g.undo, and notes in r.txn what they did to
// transactions: a follower's log gets the same transaction index and last
// stable offset as its leader's.
func (l *Log) recordProducers(g *group, r *appendReq) {
	hdrs := r.hdrs
	var ids []int64
	for _, h := range hdrs {
		if h.ProducerID >= 0 {
			ids = append(ids, h.ProducerID)
		}
	}
	if len(ids) == 0 {
		return
	}
	tent := l.w.producers.clone(ids)
	for i, h := range hdrs {
		r.setEvent(i, tent.apply(h, r.marker(i)), tent, l.w.producers)
	}
	for id, e := range tent {
		g.undo.saveProducer(id, l.w.producers[id])
		l.w.producers[id] = e
	}
}
