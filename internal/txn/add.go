package txn

// AddPartitionsToTxn (API key 24) v0–v5 and AddOffsetsToTxn (API key 25)
// v0–v4: add partitions to the open transaction, starting it. v0–v3 come
// from clients, one transaction each; v4+ come from brokers, batching
// transactions, and may only verify (KIP-890 part 1: is the partition in
// the producer's open transaction?). v5 adds on behalf of a transaction
// version 2 client (KIP-890 part 2).

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addRequest is one transaction's share of an AddPartitionsToTxn.
type addRequest struct {
	id         string
	producerID int64
	epoch      int16
	verifyOnly bool
	tv         int16 // the client's transaction version
	partitions []TopicPartition
}

func (c *Coordinator) addPartitionsToTxn(now time.Time, r *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version < 4 {
		a := addRequest{id: r.TransactionalID, producerID: r.ProducerID, epoch: r.ProducerEpoch}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				a.partitions = append(a.partitions, TopicPartition{t.Topic, p})
			}
		}
		codes := c.addOne(now, a)
		fenced(codes, r.Version < 2)
		resp.Topics = topicResults(a.partitions, codes)
		return resp
	}
	tv := tv0
	if r.Version >= 5 {
		tv = tv2
	}
	for _, tr := range r.Transactions {
		a := addRequest{id: tr.TransactionalID, producerID: tr.ProducerID, epoch: tr.ProducerEpoch, verifyOnly: tr.VerifyOnly, tv: tv}
		for _, t := range tr.Topics {
			for _, p := range t.Partitions {
				a.partitions = append(a.partitions, TopicPartition{t.Topic, p})
			}
		}
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tr.TransactionalID
		for _, t := range topicResults(a.partitions, c.addOne(now, a)) {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = t.Topic
			for _, p := range t.Partitions {
				tp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				tp.Partition, tp.ErrorCode = p.Partition, p.ErrorCode
				tt.Partitions = append(tt.Partitions, tp)
			}
			rt.Topics = append(rt.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp
}

func (c *Coordinator) addOffsetsToTxn(now time.Time, r *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	tp := TopicPartition{"__consumer_offsets", c.cfg.OffsetsPartition(r.Group)}
	codes := c.addOne(now, addRequest{id: r.TransactionalID, producerID: r.ProducerID, epoch: r.ProducerEpoch,
		partitions: []TopicPartition{tp}})
	fenced(codes, r.Version < 2)
	resp.ErrorCode = codes[tp]
	return resp
}

// fenced rewrites PRODUCER_FENCED as INVALID_PRODUCER_EPOCH for request
// versions from before PRODUCER_FENCED existed.
func fenced(codes map[TopicPartition]int16, old bool) {
	for tp, code := range codes {
		if old && code == kerr.ProducerFenced.Code {
			codes[tp] = kerr.InvalidProducerEpoch.Code
		}
	}
}

// addOne adds (or verifies) one transaction's partitions and returns the
// error code of each.
func (c *Coordinator) addOne(now time.Time, a addRequest) map[TopicPartition]int16 {
	if code := c.checkAdd(a); code != 0 {
		return all(a.partitions, code)
	}
	if missing := c.missing(a.partitions); len(missing) > 0 {
		codes := all(a.partitions, kerr.OperationNotAttempted.Code)
		for _, tp := range missing {
			codes[tp] = kerr.UnknownTopicOrPartition.Code
		}
		return codes
	}
	t := c.txns[a.id]
	if a.verifyOnly {
		codes := make(map[TopicPartition]int16, len(a.partitions))
		for _, tp := range a.partitions {
			codes[tp] = kerr.TransactionAbortable.Code
			if t.has(tp) {
				codes[tp] = 0
			}
		}
		return codes
	}
	if t.State == Ongoing && !slices.ContainsFunc(a.partitions, func(tp TopicPartition) bool { return !t.has(tp) }) {
		return all(a.partitions, 0) // nothing new: no record
	}
	next := t.Entry
	if t.State != Ongoing {
		next.StartMs, next.Partitions = now.UnixMilli(), nil
	}
	next.Partitions = slices.Concat(next.Partitions, a.partitions)
	slices.SortFunc(next.Partitions, compareTP)
	next.Partitions = slices.Compact(next.Partitions)
	next.State, next.LastUpdateMs, next.ClientTxnVersion = Ongoing, now.UnixMilli(), a.tv
	if !c.fits(&next) {
		// Kafka's answer to a __transaction_state record over
		// max.message.bytes.
		return all(a.partitions, kerr.UnknownServerError.Code)
	}
	c.transition(t, next)
	return all(a.partitions, 0)
}

// checkAdd is the error, if any, for the whole transaction of a.
func (c *Coordinator) checkAdd(a addRequest) int16 {
	t := c.txns[a.id]
	switch {
	case a.id == "":
		return kerr.InvalidRequest.Code
	case !c.owns(a.id):
		return kerr.NotCoordinator.Code
	case t == nil || t.ProducerID != a.producerID:
		return kerr.InvalidProducerIDMapping.Code
	case t.ProducerEpoch != a.epoch:
		return kerr.ProducerFenced.Code
	case t.State.preparing():
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

// missing lists the partitions that do not exist.
func (c *Coordinator) missing(tps []TopicPartition) []TopicPartition {
	var out []TopicPartition
	for _, tp := range tps {
		if tp.Partition < 0 || (c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(tp.Topic, tp.Partition)) {
			out = append(out, tp)
		}
	}
	return out
}

func (t *txn) has(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(t.Partitions, tp, compareTP)
	return ok
}

func all(tps []TopicPartition, code int16) map[TopicPartition]int16 {
	codes := make(map[TopicPartition]int16, len(tps))
	for _, tp := range tps {
		codes[tp] = code
	}
	return codes
}

// topicResults answers each partition of tps, in request order, grouped
// by topic.
func topicResults(tps []TopicPartition, codes map[TopicPartition]int16) []kmsg.AddPartitionsToTxnResponseTopic {
	var out []kmsg.AddPartitionsToTxnResponseTopic
	seen := make(map[TopicPartition]bool, len(tps))
	index := make(map[string]int) // topic → its place in out
	for _, tp := range tps {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		i, ok := index[tp.Topic]
		if !ok {
			t := kmsg.NewAddPartitionsToTxnResponseTopic()
			t.Topic = tp.Topic
			out = append(out, t)
			i = len(out) - 1
			index[tp.Topic] = i
		}
		p := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
		p.Partition, p.ErrorCode = tp.Partition, codes[tp]
		out[i].Partitions = append(out[i].Partitions, p)
	}
	return out
}
