package group

// TxnOffsetCommit v0–v5: offsets committed inside a producer's
// transaction (exactly-once consume-transform-produce). They are written
// at once, in a transactional batch of the producer, but stay pending
// until the transaction's marker reaches this __consumer_offsets
// partition: COMMIT makes them the group's offsets, ABORT drops them
// (Kafka's pendingTransactionalOffsetCommits). A replay rebuilds the same
// from the batches and markers in the log. OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT for a partition with a pending offset.
//
// v5 (transaction version 2) differs only in how the broker checks the
// transaction first (internal/broker/28_txn_offset_commit.go).

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// txnOffsets are one producer's pending offsets, by group.
type txnOffsets map[string]map[topicPartition]*offsetEntry

func (c *coordinator) txnCommit(now time.Time, r *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	g := c.groups[r.Group]
	if g == nil {
		if r.Generation >= 0 {
			return TxnOffsetCommitError(r, kerr.IllegalGeneration.Code)
		}
		g = c.getOrCreate(r.Group, now)
	}
	defer c.dropIfUnused(g)
	var stale func(topicPartition) bool
	var code int16
	if g.cg != nil {
		code, stale = g.cg.checkCommit(&kmsg.OffsetCommitRequest{Version: 9, MemberID: r.MemberID, Generation: r.Generation})
	} else {
		code = g.checkTxnCommit(r)
	}
	if code != 0 {
		return TxnOffsetCommitError(r, code)
	}
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{t.Topic, p.Partition}
			if rp.ErrorCode = c.checkOffset(tp, p.Metadata, stale); rp.ErrorCode == 0 {
				e := c.newOffset(now, p.Offset, p.LeaderEpoch, p.Metadata)
				c.storeTxnOffset(r.ProducerID, g.id, tp, e)
				c.emitTxn(r.ProducerID, r.ProducerEpoch, offsetRecord(g.id, tp, e))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// checkTxnCommit is Kafka's check of a classic group's transactional
// commit: a member id or generation, when given, must be current. Unlike
// OffsetCommit it is accepted during a rebalance.
func (g *group) checkTxnCommit(r *kmsg.TxnOffsetCommitRequest) int16 {
	if r.InstanceID != nil {
		if code := g.checkStatic(r.InstanceID, r.MemberID); code != 0 {
			return code
		}
	}
	if r.MemberID != "" && g.members[r.MemberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	if r.Generation >= 0 && r.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// storeTxnOffset keeps e pending for producerID's transaction.
func (c *coordinator) storeTxnOffset(producerID int64, groupID string, tp topicPartition, e *offsetEntry) {
	if c.txnOffsets == nil {
		c.txnOffsets = make(map[int64]txnOffsets)
	}
	byGroup := c.txnOffsets[producerID]
	if byGroup == nil {
		byGroup = make(txnOffsets)
		c.txnOffsets[producerID] = byGroup
	}
	if byGroup[groupID] == nil {
		byGroup[groupID] = make(map[topicPartition]*offsetEntry)
	}
	byGroup[groupID][tp] = e
}

// completeTxn ends producerID's transaction here: a commit makes its
// pending offsets the groups' own, unless an offset committed after them
// (a later plain OffsetCommit) is already there, as in Kafka.
func (c *coordinator) completeTxn(now time.Time, producerID int64, commit bool) {
	byGroup, ok := c.txnOffsets[producerID]
	if !ok {
		return
	}
	delete(c.txnOffsets, producerID)
	for _, groupID := range slices.Sorted(maps.Keys(byGroup)) {
		g := c.groups[groupID]
		if g == nil {
			continue
		}
		if commit {
			for tp, e := range byGroup[groupID] {
				if old := g.offsets[tp]; old == nil || old.order < e.order {
					g.offsets[tp] = e
				}
			}
		}
		if !now.IsZero() {
			c.dropIfUnused(g)
		}
	}
}

// hasPendingTxn reports whether groupID has offsets in an open
// transaction; tp, if not nil, narrows it to one partition.
func (c *coordinator) hasPendingTxn(groupID string, tp *topicPartition) bool {
	for _, byGroup := range c.txnOffsets {
		offsets, ok := byGroup[groupID]
		if !ok {
			continue
		}
		if tp == nil {
			return true
		}
		if _, ok := offsets[*tp]; ok {
			return true
		}
	}
	return false
}

// dropPendingTxn forgets pending offsets of a partition whose offset was
// deleted, as Kafka's removeOffsets does.
func (c *coordinator) dropPendingTxn(groupID string, tp topicPartition) {
	for _, byGroup := range c.txnOffsets {
		delete(byGroup[groupID], tp)
	}
}

// emitTxn queues a record written in producerID's transaction.
func (c *coordinator) emitTxn(producerID int64, epoch int16, rec record.Record) {
	c.out.records = append(c.out.records, logRecord{Record: rec, producerID: producerID, producerEpoch: epoch})
}

// replayTxnOffset applies an offset record of a transactional batch as
// pending for its producer.
func (c *coordinator) replayTxnOffset(producerID int64, groupID string, tp topicPartition, v *kmsg.OffsetCommitValue) {
	c.getOrCreate(groupID, time.Time{})
	e := replayedEntry(v)
	c.order(e)
	c.storeTxnOffset(producerID, groupID, tp, e)
}

// TxnOffsetCommitError answers every partition of r with code.
func TxnOffsetCommitError(r *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
