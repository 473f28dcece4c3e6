package broker

// WriteTxnMarkers v0–v2: a transaction coordinator (internal/txn's marker
// writer, on this node or another) asks this node to end a producer's
// transaction in the partitions it leads. Each marker is appended as a
// control batch (acks=all: answered once below the high watermark);
// partitions led elsewhere answer NOT_LEADER_OR_FOLLOWER and the
// coordinator retries at the new leader. v2's transaction version is not
// needed by the log: it takes the marker's epoch as given. A marker in a
// __consumer_offsets partition also ends the transaction's offset
// commits (offsetsMarker). ACLs, as Kafka: ALTER or CLUSTER_ACTION on the
// cluster, else every partition answers CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// markerTimeout bounds one marker's acks=all wait, as Kafka's
// request.timeout.ms bounds the append of a WriteTxnMarkers; the
// coordinator retries after it.
const markerTimeout = 30 * time.Second

func handleWriteTxnMarkers(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	opts := replica.AppendOptions{Acks: -1, Timeout: markerTimeout, Hangup: r.Hangup,
		Storage: storage.AppendOptions{Sync: b.cfg.Settings.Bool("eddy.fsync.acks.all")}}
	denied := !b.authorizedCluster(r, kmsg.ACLOperationAlter) && !b.authorizedCluster(r, kmsg.ACLOperationClusterAction)
	var wg sync.WaitGroup
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for i, m := range req.Markers {
		rm := &resp.Markers[i]
		*rm = kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		marker := storage.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed,
			CoordinatorEpoch: m.CoordinatorEpoch}
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j, t := range m.Topics {
			rt := &rm.Topics[j]
			*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			for k, p := range t.Partitions {
				rp := &rt.Partitions[k]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if denied {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				wg.Go(func() {
					rp.ErrorCode = errorCode(b.writeMarker(ctx, t.Topic, p, marker, opts))
				})
			}
		}
	}
	wg.Wait()
	return respond(resp)
}

// writeMarker appends one marker to a partition this node leads.
func (b *Broker) writeMarker(ctx context.Context, topic string, p int32, m storage.TxnMarker, opts replica.AppendOptions) error {
	part, err := b.partition(topic, p)
	if err != nil {
		return err
	}
	// The producer's next batch here is verified again: forgotten before
	// the append, so no batch passes on an old check while the marker is
	// on its way, and after it, so none verified meanwhile is remembered.
	b.verified.ended(topic, p, m.ProducerID)
	_, err = part.AppendMarker(ctx, m, opts)
	b.verified.ended(topic, p, m.ProducerID)
	if err != nil {
		b.log.Debug("transaction marker refused", "topic", topic, "partition", p, "producer_id", m.ProducerID, "err", err)
		return err
	}
	if topic == meta.ConsumerOffsetsTopic {
		b.offsetsMarker(ctx, p, m)
	}
	return nil
}

// offsetsMarker tells the group coordinator of a __consumer_offsets
// partition that a transaction ended there, to make the offsets it
// committed with TxnOffsetCommit visible (commit) or drop them (abort), as
// Kafka's GroupCoordinator.onTransactionCompleted does. It returns once
// the coordinator has taken it, before the marker's answer, so the
// transaction is complete only when its offsets are visible.
func (b *Broker) offsetsMarker(ctx context.Context, partition int32, m storage.TxnMarker) {
	if b.groups != nil {
		b.groups.CompleteTxn(ctx, partition, m.ProducerID, m.Commit)
	}
}
