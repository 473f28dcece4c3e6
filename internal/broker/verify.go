package broker

// Transaction verification (KIP-890 part 1, as Kafka 3.6+ brokers do it):
// before appending a producer's first transactional batch to a partition
// since its last marker there, the leader asks the transactional id's
// coordinator, with a verify-only AddPartitionsToTxn, whether the
// partition is in the producer's open transaction. A batch for a
// partition the transaction did not add (a late retry after an abort, a
// buggy client) would otherwise open a transaction no marker ever ends,
// holding the last stable offset back forever. Verified producers are
// remembered per partition until a marker for them is written there.
//
// A transaction version 2 client (Produce v12+, TxnOffsetCommit v5+) does
// not add partitions itself: the same request, not verify-only, adds the
// partition to its transaction (KIP-890 part 2).
//
// Kafka also checks, inside the log's append, that no marker slipped in
// between the verification and the append (its verification guard); the
// log here has no such guard, so that narrow window remains.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/txn"
)

// maxVerified bounds the verified producers remembered; past it the set
// starts over, which costs only verifications again.
const maxVerified = 1 << 16

// verifyKey is one producer in one partition.
type verifyKey struct {
	topic      string
	partition  int32
	producerID int64
}

// verifiedTxns remembers the producers whose open transaction includes a
// partition this node leads, with the epoch verified.
type verifiedTxns struct {
	mu   sync.Mutex
	keys map[verifyKey]int16 // guarded by mu
}

func (v *verifiedTxns) has(k verifyKey, epoch int16) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.keys[k]
	return ok && e == epoch
}

func (v *verifiedTxns) add(k verifyKey, epoch int16) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil || len(v.keys) >= maxVerified {
		v.keys = make(map[verifyKey]int16)
	}
	v.keys[k] = epoch
}

// ended forgets a producer's transaction in a partition: a marker ended
// it, and its next transaction there must be verified again.
func (v *verifiedTxns) ended(topic string, partition int32, producerID int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.keys, verifyKey{topic, partition, producerID})
}

// verifyTxnBatch checks a transactional batch against its coordinator, or
// the memory of an earlier check, and returns the produce error code. With
// add (a transaction version 2 client) the coordinator adds the partition
// to the transaction instead.
func (b *Broker) verifyTxnBatch(ctx context.Context, txnID, topic string, p int32, h record.BatchHeader, add bool) int16 {
	k := verifyKey{topic, p, h.ProducerID}
	if b.verified.has(k, h.ProducerEpoch) {
		return 0
	}
	code := b.askCoordinator(ctx, txnID, k, h.ProducerEpoch, add)
	// A transaction version 2 producer's first batch of a transaction
	// usually races the previous transaction's markers (EndTxn answers
	// before them): wait a little here, as Kafka does, rather than send
	// the client into a retry that may wait for a metadata refresh.
	settings := b.settings()
	pause := millis(settings, "add.partitions.to.txn.retry.backoff.ms")
	for waited, limit := time.Duration(0), millis(settings, "add.partitions.to.txn.retry.backoff.max.ms"); code == kerr.ConcurrentTransactions.Code && waited < limit; waited += pause {
		select {
		case <-ctx.Done():
			return kerr.RequestTimedOut.Code
		case <-time.After(pause):
		}
		code = b.askCoordinator(ctx, txnID, k, h.ProducerEpoch, add)
	}
	switch {
	case code == 0:
		b.verified.add(k, h.ProducerEpoch)
	case code == kerr.TransactionAbortable.Code && !add:
		// Not in the transaction: Kafka's answer to produce versions
		// before KIP-890 part 2's clients.
		code = kerr.InvalidTxnState.Code
	case code == kerr.NotCoordinator.Code, code == kerr.CoordinatorNotAvailable.Code,
		code == kerr.CoordinatorLoadInProgress.Code, code == kerr.ConcurrentTransactions.Code:
		// Retriable for every client, as Kafka maps them.
		code = kerr.NotEnoughReplicas.Code
	case code == kerr.ProducerFenced.Code:
		code = kerr.InvalidProducerEpoch.Code
	}
	return code
}

// askCoordinator sends the AddPartitionsToTxn for k: verify-only (v4),
// or adding for a transaction version 2 client (v5).
func (b *Broker) askCoordinator(ctx context.Context, txnID string, k verifyKey, epoch int16, add bool) int16 {
	t, ok := b.meta.Topic(meta.TransactionStateTopic)
	if !ok || t.Partitions == 0 {
		return kerr.CoordinatorNotAvailable.Code // no transaction can be open
	}
	leader := t.Assignments[txn.PartitionFor(txnID, t.Partitions)].Leader
	if leader < 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = txnID, k.producerID, epoch, !add
	tr.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: k.topic, Partitions: []int32{k.partition}}}
	req.Transactions = append(req.Transactions, tr)
	resp, err := b.send(ctx, leader, req)
	if err != nil {
		b.log.Debug("transaction verification failed", "transactional_id", txnID, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	r, ok := resp.(*kmsg.AddPartitionsToTxnResponse)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code
	}
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	for _, rt := range r.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if rt.TransactionalID == txnID && t.Topic == k.topic && p.Partition == k.partition {
					return p.ErrorCode
				}
			}
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}
