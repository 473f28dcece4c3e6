package txn

// EndTxn (API key 26) v0–v5: commits or aborts the open transaction. From
// v5 the client speaks transaction version 2 (KIP-890 part 2): every
// EndTxn bumps the producer epoch, the new producer id and epoch are
// returned, retries are recognised by the epoch, and an abort with no
// partitions added is allowed. Also here: the coordinator's own aborts
// (fencing by InitProducerId, transaction timeouts) and id expiry.

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) endTxn(now time.Time, r *kmsg.EndTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	var code int16
	switch t := c.txns[r.TransactionalID]; {
	case r.TransactionalID == "":
		code = kerr.InvalidRequest.Code
	case !c.owns(r.TransactionalID):
		code = kerr.NotCoordinator.Code
	case t == nil:
		code = kerr.InvalidProducerIDMapping.Code
	case r.Version >= 5:
		resp.ProducerID, resp.ProducerEpoch, code = c.endTxnV2(now, t, r)
	default:
		code = c.endTxnV1(now, t, r)
	}
	if code == kerr.ProducerFenced.Code && r.Version < 2 {
		code = kerr.InvalidProducerEpoch.Code // PRODUCER_FENCED is new in v2
	}
	resp.ErrorCode = code
	if code != 0 {
		resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	}
	return resp
}

// endTxnV1 ends a transaction of a transaction version 0/1 client: the
// epoch must be the current one and does not change.
func (c *Coordinator) endTxnV1(now time.Time, t *txn, r *kmsg.EndTxnRequest) int16 {
	switch {
	case t.ProducerID != r.ProducerID:
		return kerr.InvalidProducerIDMapping.Code
	case t.ProducerEpoch != r.ProducerEpoch:
		return kerr.ProducerFenced.Code
	}
	switch t.State {
	case Ongoing:
		c.prepare(now, t, r.Commit, tv0, t.ProducerEpoch, t.lastEpoch, noProducerID, false)
		return 0
	case CompleteCommit, CompleteAbort:
		if r.Commit == (t.State == CompleteCommit) {
			return 0 // a retry of the EndTxn that completed
		}
	case PrepareCommit, PrepareAbort:
		if r.Commit == (t.State == PrepareCommit) {
			return kerr.ConcurrentTransactions.Code
		}
	}
	return kerr.InvalidTxnState.Code
}

// endTxnV2 ends a transaction of a transaction version 2 client. An
// epoch one below the current one is a retry of an EndTxn that bumped
// it; so is the last epoch of a producer id that overflowed into a new
// one.
func (c *Coordinator) endTxnV2(now time.Time, t *txn, r *kmsg.EndTxnRequest) (int64, int16, int16) {
	retryOnBump := int32(t.ProducerEpoch) == int32(r.ProducerEpoch)+1
	retryOnOverflow := t.PreviousProducerID == r.ProducerID && r.ProducerEpoch == maxClientEpoch && t.ProducerEpoch == 0
	var validEpoch bool
	switch t.State {
	case PrepareCommit, PrepareAbort:
		// At the current epoch: the next transaction's end, sent before
		// the markers of this one are written (retried below).
		validEpoch = retryOnBump || r.ProducerEpoch == t.ProducerEpoch
	case CompleteCommit, CompleteAbort:
		validEpoch = retryOnBump || retryOnOverflow || r.ProducerEpoch == t.ProducerEpoch
	default:
		validEpoch = r.ProducerEpoch == t.ProducerEpoch
	}
	retry := retryOnBump || retryOnOverflow
	switch {
	case t.ProducerID != r.ProducerID && !retryOnOverflow:
		return 0, 0, kerr.InvalidProducerIDMapping.Code
	case !validEpoch || r.ProducerEpoch > maxClientEpoch:
		// No client ever holds the top epoch: it is the coordinator's
		// to fence with.
		return 0, 0, kerr.ProducerFenced.Code
	}
	switch t.State {
	case Ongoing:
		return c.endV2(now, t, r.Commit, false)
	case Empty:
		if !r.Commit {
			return c.endV2(now, t, false, true)
		}
	case CompleteCommit, CompleteAbort:
		committed := t.State == CompleteCommit
		switch {
		case retry && r.Commit == committed:
			return t.ProducerID, t.ProducerEpoch, 0
		case !retry && !r.Commit:
			return c.endV2(now, t, false, true)
		}
	case PrepareCommit, PrepareAbort:
		if !retry || r.Commit == (t.State == PrepareCommit) {
			return 0, 0, kerr.ConcurrentTransactions.Code
		}
	}
	return 0, 0, kerr.InvalidTxnState.Code
}

// endV2 prepares a transaction version 2 commit or abort with the epoch
// bumped; empty is an abort of a transaction that added no partitions. An
// exhausted epoch takes a new producer id, used once the markers are
// written.
func (c *Coordinator) endV2(now time.Time, t *txn, commit, empty bool) (int64, int16, int16) {
	nextPID := noProducerID
	if epochExhausted(t.ProducerEpoch) {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			return 0, 0, c.allocError(err)
		}
		nextPID = pid
	}
	c.prepare(now, t, commit, tv2, t.ProducerEpoch+1, t.ProducerEpoch, nextPID, empty)
	pid, epoch := afterComplete(t)
	return pid, epoch, 0
}

// prepare writes PrepareCommit or PrepareAbort for t with the given epoch,
// then asks for its markers.
func (c *Coordinator) prepare(now time.Time, t *txn, commit bool, tv, epoch, lastEpoch int16, nextPID int64, empty bool) {
	next := t.Entry
	next.State = PrepareAbort
	if commit {
		next.State = PrepareCommit
	}
	next.ProducerEpoch, next.NextProducerID, next.ClientTxnVersion = epoch, nextPID, tv
	next.LastUpdateMs = now.UnixMilli()
	if empty {
		// No partition was added, so no start time was recorded; the
		// abort's time stands in for it.
		next.StartMs, next.Partitions = now.UnixMilli(), nil
	}
	t.lastEpoch = lastEpoch
	c.transition(t, next)
	c.sendMarkers(now, t)
}

// fenceAndAbort aborts t's open transaction on the coordinator's own
// initiative (a new producer of the id, or a timeout), under a bumped
// epoch that fences the current producer. At transaction version 2 the
// abort bumps once more, as Kafka's does.
func (c *Coordinator) fenceAndAbort(now time.Time, t *txn) {
	fenced, last := t.ProducerEpoch, noProducerEpoch
	if fenced < math.MaxInt16 {
		fenced++
	}
	epoch := fenced
	if c.cfg.TransactionVersion >= tv2 && epoch < math.MaxInt16 {
		epoch, last = fenced+1, fenced
	}
	c.prepare(now, t, false, c.cfg.TransactionVersion, epoch, last, noProducerID, false)
}

// abortTimedOut aborts every transaction open longer than its timeout.
func (c *Coordinator) abortTimedOut(now time.Time) {
	for _, t := range c.sorted() {
		if t.State == Ongoing && t.StartMs+int64(t.TimeoutMs) < now.UnixMilli() {
			c.log.Info("aborting timed out transaction", "transactional_id", t.id, "producer_id", t.ProducerID,
				"producer_epoch", t.ProducerEpoch)
			c.fenceAndAbort(now, t)
		}
	}
}

// expire drops ids idle past IDExpiration with no transaction open,
// writing their tombstones.
func (c *Coordinator) expire(now time.Time) {
	cutoff := now.Add(-c.cfg.IDExpiration).UnixMilli()
	for _, t := range c.sorted() {
		if t.State.expirable() && t.LastUpdateMs <= cutoff {
			if !canTransition(t.State, Dead) {
				panic("txn: expiring an id that cannot die")
			}
			delete(c.txns, t.id)
			c.out.Records = append(c.out.Records, Record(t.id, nil, 0))
		}
	}
}
