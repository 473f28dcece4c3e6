package broker

// TxnOffsetCommit v0–v5: a transactional producer commits a group's
// offsets inside its transaction. The group's coordinator keeps them
// pending until the transaction's marker reaches its __consumer_offsets
// partition (writeMarker tells it). Before that, as Kafka 3.6+ does
// (KIP-890 part 1), the transaction coordinator is asked whether the
// producer added the group's offsets partition (AddOffsetsToTxn) to its
// open transaction at this epoch: a zombie or a late retry is refused
// instead of leaving offsets no marker ends. v5 (transaction version 2)
// adds the partition to the transaction instead of verifying it. ACLs are
// checked first, as Kafka (authz_groups.go): WRITE on the transactional
// id, READ on the group and on each topic.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/group"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
)

func handleTxnOffsetCommit(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	allowed, finish := b.authorizeGroupRequest(r)
	if sub, ok := allowed.(*kmsg.TxnOffsetCommitRequest); ok {
		if code := b.verifyTxnOffsets(ctx, sub); code != 0 {
			return respond(finish(group.TxnOffsetCommitError(sub, code)))
		}
	}
	return b.routeGroupRequest(ctx, r, allowed, finish)
}

// verifyTxnOffsets checks the producer's transaction includes the group's
// __consumer_offsets partition, and maps the answer to TxnOffsetCommit's
// errors.
func (b *Broker) verifyTxnOffsets(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) int16 {
	if req.TransactionalID == "" || req.ProducerID < 0 || req.ProducerEpoch < 0 {
		return kerr.InvalidRequest.Code
	}
	p := group.PartitionFor(req.Group, b.offsetsPartitions())
	h := record.BatchHeader{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch}
	add := req.Version >= 5 // a transaction version 2 client
	switch code := b.verifyTxnBatch(ctx, req.TransactionalID, meta.ConsumerOffsetsTopic, p, h, add); code {
	case kerr.NotEnoughReplicas.Code:
		// verifyTxnBatch's retriable answer for a produce; the group
		// commit's clients retry this one.
		return kerr.CoordinatorNotAvailable.Code
	default:
		return code
	}
}
