package storage

import (
	"context"
	"fmt"

	"github.com/eddy-streaming/eddy/internal/record"
)

// TxnMarker is the end of one producer's transaction in a partition, as a
// transaction coordinator asks the partition leader to write it
// (WriteTxnMarkers).
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool  // COMMIT, else ABORT
	CoordinatorEpoch int32 // epoch of the coordinator writing it
}

// AppendMarker writes the control batch ending m's transaction and returns
// its offset. It goes through the writer like any append: stamped with
// opts.LeaderEpoch (ErrFencedLeaderEpoch below the log's latest), fsynced
// with opts.Sync, and replicated to followers as an ordinary batch. It
// fails with ErrInvalidProducerEpoch if m.ProducerEpoch is below the
// producer's current epoch, and with ErrTransactionCoordinatorFenced if
// m.CoordinatorEpoch is below that of the producer's last marker. The
// marker completes the producer's ongoing transaction, if it wrote data in
// this partition: an ABORT adds it to the transaction index, and the last
// stable offset moves past it once the marker is below the high
// watermark. A marker for a producer with no transaction here is written
// all the same and changes nothing but the producer's epochs, as in
// Kafka.
func (l *Log) AppendMarker(ctx context.Context, m TxnMarker, opts AppendOptions) (int64, error) {
	name := partitionDirName(l.topic, l.partition)
	if m.ProducerID < 0 || opts.LeaderEpoch < 0 {
		return 0, fmt.Errorf("append marker to %s: %w: producer id %d, leader epoch %d", name, record.ErrInvalid, m.ProducerID, opts.LeaderEpoch)
	}
	em := record.EndTxnMarker{Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch}
	b := record.BuildEndTxnMarker(m.ProducerID, m.ProducerEpoch, em, opts.LeaderEpoch, l.now().UnixMilli())
	h, err := record.ParseHeader(b)
	if err != nil {
		panic(fmt.Sprintf("storage: marker batch: %v", err)) // built just above
	}
	req := &appendReq{data: b, hdrs: []record.BatchHeader{h}, markers: []*record.EndTxnMarker{&em},
		sync: opts.Sync, epoch: opts.LeaderEpoch, done: make(chan struct{})}
	res, err := l.submit(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("append marker to %s: %w", name, err)
	}
	return res.BaseOffset, nil
}
