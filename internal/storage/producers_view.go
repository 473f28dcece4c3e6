package storage

import (
	"context"
	"fmt"
	"sort"
)

// ProducerState is what a log remembers of one producer, as Kafka's
// DescribeProducers reports it.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	// LastSequence is the last sequence number of the producer's latest
	// batch, -1 if it has none (a new epoch that wrote only a marker).
	LastSequence int32
	// LastTimestamp is the max timestamp of its latest batch, data or
	// marker; -1 if unknown (state loaded from a version 1 or 2 snapshot).
	LastTimestamp int64
	// CoordinatorEpoch is that of its latest marker, -1 before any.
	CoordinatorEpoch int32
	// TxnStartOffset is the first offset of its ongoing transaction, -1 if
	// none.
	TxnStartOffset int64
}

// Producers returns the producers the log remembers, by producer ID. The
// state is owned by the writer goroutine, so the read is queued behind the
// appends before it (it sees what they did, tentative until replicated, as
// Kafka's activeProducers does) and runs between group commits. A disk
// failure does not refuse it; a closed or deleted log does.
func (l *Log) Producers(ctx context.Context) ([]ProducerState, error) {
	var out []ProducerState
	req := &appendReq{inspect: func(p producers) { out = p.states() }, done: make(chan struct{})}
	if _, err := l.submit(ctx, req); err != nil {
		return nil, fmt.Errorf("producers of %s: %w", partitionDirName(l.topic, l.partition), err)
	}
	return out, nil
}

// runInspect runs a state read in the writer goroutine.
func (l *Log) runInspect(r *appendReq) {
	if !r.state.CompareAndSwap(reqQueued, reqTaken) {
		return
	}
	r.inspect(l.w.producers)
	close(r.done)
}

// states copies p out, sorted by producer ID.
func (p producers) states() []ProducerState {
	out := make([]ProducerState, 0, len(p))
	for id, e := range p {
		s := ProducerState{ProducerID: id, ProducerEpoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTime,
			CoordinatorEpoch: e.coordEpoch, TxnStartOffset: e.txnFirst}
		if n := len(e.batches); n > 0 {
			s.LastSequence = e.batches[n-1].lastSeq
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
