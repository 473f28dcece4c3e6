package txn

// The marker writer: once a transaction's PrepareCommit or PrepareAbort is
// durable, a goroutine of its runner sends WriteTxnMarkers to the leader
// of each of its partitions and reports the partitions done, until all
// are, as Kafka's TransactionMarkerChannelManager does. NOT_LEADER,
// unavailable leaders and network errors are retried with a backoff; a
// partition whose topic is gone counts as done; INVALID_PRODUCER_EPOCH or
// TRANSACTION_COORDINATOR_FENCED means a newer producer or coordinator
// owns the transaction, and the writer gives up on it.

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const maxMarkerBackoff = time.Second

// startMarkers starts writing m's markers for a's core; results come
// back to the runner as written events.
func (a *runnerCore) startMarkers(m *Markers) {
	ctx, ld := a.ctx, a.ld
	ld.senders.Add(1)
	go func() {
		defer ld.senders.Done()
		ld.m.writeMarkers(ctx, m, func(done []TopicPartition) bool {
			return ld.r.Post(ctx, written{core: a, m: m, partitions: done})
		})
	}()
}

// writeMarkers writes m's markers until every partition is done, report
// fails (the runner stopped) or ctx ends.
func (m *Manager) writeMarkers(ctx context.Context, mk *Markers, report func([]TopicPartition) bool) {
	left := slices.Clone(mk.Partitions)
	backoff := m.cfg.MarkerBackoff
	for len(left) > 0 {
		done, retry, fenced := m.writeMarkersOnce(ctx, mk, left)
		if fenced {
			m.log.Info("transaction markers fenced; a newer producer or coordinator owns the transaction",
				"transactional_id", mk.TransactionalID, "producer_id", mk.ProducerID, "producer_epoch", mk.ProducerEpoch)
			return
		}
		if len(done) > 0 && !report(done) {
			return
		}
		if left = retry; len(left) == 0 {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxMarkerBackoff)
	}
}

// writeMarkersOnce sends one round of WriteTxnMarkers, one request per
// leader, and sorts tps into done and to retry.
func (m *Manager) writeMarkersOnce(ctx context.Context, mk *Markers, tps []TopicPartition) (done, retry []TopicPartition, fenced bool) {
	byLeader := make(map[int32][]TopicPartition)
	for _, tp := range tps {
		leader, exists := m.cfg.Leader(tp.Topic, tp.Partition)
		switch {
		case !exists:
			done = append(done, tp) // deleted: nothing left to end
		case leader < 0:
			retry = append(retry, tp)
		default:
			byLeader[leader] = append(byLeader[leader], tp)
		}
	}
	for _, leader := range slices.Sorted(maps.Keys(byLeader)) {
		sent := byLeader[leader]
		resp, err := m.cfg.Send(ctx, leader, markersRequest(mk, sent))
		if err != nil {
			m.log.Debug("writing transaction markers failed; retrying", "broker", leader, "err", err)
			retry = append(retry, sent...)
			continue
		}
		codes := markerCodes(resp)
		for _, tp := range sent {
			code, ok := codes[tp]
			switch {
			case ok && code == 0:
				done = append(done, tp)
			case ok && (code == kerr.TransactionCoordinatorFenced.Code || code == kerr.InvalidProducerEpoch.Code):
				fenced = true
			default:
				if ok && code != kerr.NotLeaderForPartition.Code {
					m.log.Debug("transaction marker refused; retrying", "topic", tp.Topic, "partition", tp.Partition,
						"err", kerr.ErrorForCode(code))
				}
				retry = append(retry, tp)
			}
		}
	}
	return done, retry, fenced
}

// markersRequest is the WriteTxnMarkers asking for mk's markers on tps.
func markersRequest(mk *Markers, tps []TopicPartition) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	wm := kmsg.NewWriteTxnMarkersRequestMarker()
	wm.ProducerID, wm.ProducerEpoch, wm.Committed = mk.ProducerID, mk.ProducerEpoch, mk.Commit
	wm.CoordinatorEpoch, wm.TransactionVersion = mk.CoordinatorEpoch, mk.TransactionVersion
	for _, tp := range tps {
		if n := len(wm.Topics); n == 0 || wm.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			wm.Topics = append(wm.Topics, t)
		}
		last := &wm.Topics[len(wm.Topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, wm)
	return req
}

// markerCodes reads the error code of each partition of a response.
func markerCodes(resp kmsg.Response) map[TopicPartition]int16 {
	codes := make(map[TopicPartition]int16)
	r, ok := resp.(*kmsg.WriteTxnMarkersResponse)
	if !ok {
		return codes
	}
	for _, mk := range r.Markers {
		for _, t := range mk.Topics {
			for _, p := range t.Partitions {
				codes[TopicPartition{t.Topic, p.Partition}] = p.ErrorCode
			}
		}
	}
	return codes
}
