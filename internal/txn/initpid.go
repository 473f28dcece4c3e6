package txn

// InitProducerId (API key 22) v0–v5: gives a transactional id its producer
// id and a bumped epoch, fencing older producers of the id; v3+ carries
// the producer id and epoch of a producer recovering by KIP-360. Without
// a transactional id it hands out a fresh producer id (idempotence).
// KIP-939 two-phase commit (v6) is not implemented.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) initProducerID(now time.Time, r *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	pid, epoch, code := c.initPID(now, r)
	if code == kerr.ProducerFenced.Code && r.Version < 4 {
		code = kerr.InvalidProducerEpoch.Code // PRODUCER_FENCED is new in v4
	}
	resp.ErrorCode = code
	if code == 0 {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	}
	return resp
}

func (c *Coordinator) initPID(now time.Time, r *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	if r.TransactionalID == nil {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return 0, 0, c.allocError(err)
		}
		return pid, 0, 0
	}
	id := *r.TransactionalID
	expected, code := expectedProducer(r)
	switch {
	case id == "" || code != 0:
		return 0, 0, kerr.InvalidRequest.Code
	case !c.owns(id):
		return 0, 0, kerr.NotCoordinator.Code
	case r.TransactionTimeoutMillis <= 0 || int64(r.TransactionTimeoutMillis) > c.cfg.MaxTimeout.Milliseconds():
		return 0, 0, kerr.InvalidTransactionTimeout.Code
	}
	t := c.txns[id]
	if t == nil {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return 0, 0, c.allocError(err)
		}
		// Kept only in memory until the transition below writes it.
		t = &txn{id: id, lastEpoch: noProducerEpoch, Entry: Entry{ProducerID: pid, PreviousProducerID: noProducerID,
			NextProducerID: noProducerID, ProducerEpoch: noProducerEpoch, TimeoutMs: r.TransactionTimeoutMillis,
			State: Empty, StartMs: -1, LastUpdateMs: now.UnixMilli()}}
		c.txns[id] = t
	}
	if expected != nil && !validRecovery(t, expected) {
		return 0, 0, kerr.ProducerFenced.Code
	}
	switch t.State {
	case PrepareCommit, PrepareAbort:
		return 0, 0, kerr.ConcurrentTransactions.Code
	case Ongoing:
		// Abort the open transaction first, under a bumped epoch that
		// is never returned; the client retries and gets a bump of its
		// own once the abort completes.
		c.fenceAndAbort(now, t)
		return 0, 0, kerr.ConcurrentTransactions.Code
	}
	return c.bumpEpoch(now, t, r.TransactionTimeoutMillis, expected)
}

// producerIDAndEpoch is what a KIP-360 InitProducerId says it had.
type producerIDAndEpoch struct {
	id    int64
	epoch int16
}

// expectedProducer reads the v3+ producer id and epoch: both -1 (none) or
// both set; one without the other is INVALID_REQUEST.
func expectedProducer(r *kmsg.InitProducerIDRequest) (*producerIDAndEpoch, int16) {
	if r.Version < 3 || (r.ProducerID == noProducerID && r.ProducerEpoch == noProducerEpoch) {
		return nil, 0
	}
	if r.ProducerID < 0 || r.ProducerEpoch < 0 {
		return nil, kerr.InvalidRequest.Code
	}
	return &producerIDAndEpoch{r.ProducerID, r.ProducerEpoch}, 0
}

// validRecovery reports whether a KIP-360 producer may continue: the id
// was just created (epoch -1), it names the current producer id (the
// epoch is checked by the bump), or it names the previous one at an
// exhausted epoch — a retry after the rotation to a new producer id.
func validRecovery(t *txn, p *producerIDAndEpoch) bool {
	return t.ProducerEpoch == noProducerEpoch || p.id == t.ProducerID ||
		(p.id == t.PreviousProducerID && epochExhausted(p.epoch))
}

// bumpEpoch answers InitProducerId for an id with no open transaction:
// the next epoch, or a new producer id at epoch 0 once the epochs are
// exhausted.
func (c *Coordinator) bumpEpoch(now time.Time, t *txn, timeoutMs int32, expected *producerIDAndEpoch) (int64, int16, int16) {
	next := t.Entry
	next.State, next.TimeoutMs, next.Partitions, next.StartMs = Empty, timeoutMs, nil, -1
	next.LastUpdateMs = now.UnixMilli()
	lastEpoch := noProducerEpoch
	switch {
	case epochExhausted(t.ProducerEpoch) && (expected == nil || expected.epoch == t.ProducerEpoch):
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return 0, 0, c.allocError(err)
		}
		next.ProducerID, next.ProducerEpoch = pid, 0
		if expected != nil {
			lastEpoch = t.ProducerEpoch
		}
	case expected == nil:
		next.ProducerEpoch = t.ProducerEpoch + 1
	case t.ProducerEpoch == noProducerEpoch || expected.epoch == t.ProducerEpoch:
		// The producer continues after an error, and no other producer
		// has initialized since.
		next.ProducerEpoch, lastEpoch = t.ProducerEpoch+1, t.ProducerEpoch
	case expected.epoch == t.lastEpoch:
		// A retry of a bump that succeeded: the same epoch again.
		next.ProducerEpoch, lastEpoch = t.ProducerEpoch, t.lastEpoch
	default:
		return 0, 0, kerr.ProducerFenced.Code
	}
	t.lastEpoch = lastEpoch
	c.transition(t, next)
	return t.ProducerID, t.ProducerEpoch, 0
}

// allocError answers a failed producer id allocation with a retriable
// error, as Kafka does while its id block is not yet granted.
func (c *Coordinator) allocError(err error) int16 {
	c.log.Warn("producer id allocation failed", "partition", c.partition, "err", err)
	return kerr.CoordinatorLoadInProgress.Code
}
