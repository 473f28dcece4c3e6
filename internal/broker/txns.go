package broker

// The transaction coordinator APIs — InitProducerId with a transactional
// id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions
// and ListTransactions — are answered by internal/txn's Manager, which
// owns the coordinators of the __transaction_state partitions this node
// leads. As for the group APIs (groups.go), one routing function stands
// in for a file per API key; their versions are listed in apis.go. The
// coordinator writes markers with WriteTxnMarkers (27_write_txn_markers.go)
// to each partition's leader, this node included.
//
// AddPartitionsToTxn v0–v5: v0–v3 from clients, v4+ batched from brokers
// (verify-only included). AddOffsetsToTxn v0–v4. EndTxn v0–v5.
// DescribeTransactions v0. ListTransactions v0–v2. The transaction.version
// feature is eddy.transaction.version (2 by default, as on a new Kafka 4
// cluster): clients that support it run KIP-890 part 2 (EndTxn v5 bumps
// the epoch; Produce v12 and TxnOffsetCommit v5 add their partition to
// the transaction themselves, verify.go), the others the original
// protocol, each transaction as its client began it.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/group"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/txn"
)

func handleTxnRequest(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req, finish := b.authorizeTxnRequest(r) // authz_txns.go
	var resp kmsg.Response
	if req != nil {
		var err error
		if resp, err = b.txns.Handle(ctx, req); err != nil {
			return nil, err
		}
	}
	return respond(finish(resp))
}

// startTxns starts the transaction coordinators' manager and, where the
// topic already exists, elects those of the partitions this node leads.
// __transaction_state is created when a client first looks for a
// transaction coordinator (txnLeader), as Kafka does.
func (b *Broker) startTxns() error {
	settings := b.settings()
	core := txn.DefaultConfig()
	core.NumPartitions = int32(settings.Int("transaction.state.log.num.partitions"))
	if t, ok := b.meta.Topic(meta.TransactionStateTopic); ok {
		core.NumPartitions = t.Partitions
	}
	core.MaxTimeout = millis(settings, "transaction.max.timeout.ms")
	core.IDExpiration = millis(settings, "transactional.id.expiration.ms")
	core.AbortCheckInterval = millis(settings, "transaction.abort.timed.out.transaction.cleanup.interval.ms")
	core.ExpiryCheckInterval = millis(settings, "transaction.remove.expired.transaction.cleanup.interval.ms")
	core.TransactionVersion = int16(settings.Int("eddy.transaction.version"))
	core.NextProducerID = b.pids.Next
	core.OffsetsPartition = func(g string) int32 { return group.PartitionFor(g, b.offsetsPartitions()) }
	core.PartitionExists = b.partitionExists
	core.Logger = b.log
	txns, err := txn.NewManager(txn.ManagerConfig{Logger: b.log, Core: core,
		Log: func(p int32) *replica.Partition {
			part, _ := b.replicas.Partition(meta.TransactionStateTopic, p)
			return part
		},
		Leader: b.markerLeader,
		Send:   b.send,
	})
	if err != nil {
		return fmt.Errorf("starting transaction coordinators: %w", err)
	}
	b.txns = txns
	if !b.cfg.Clustered {
		if t, ok := b.meta.Topic(meta.TransactionStateTopic); ok {
			return b.electTxnsStandalone(t)
		}
	}
	return nil
}

// electTxnsStandalone elects every coordinator of a standalone node,
// which leads every partition at epoch 0.
func (b *Broker) electTxnsStandalone(t meta.Topic) error {
	for p := range t.Partitions {
		if err := b.txns.Elect(p, 0); err != nil {
			return fmt.Errorf("electing transaction coordinator %d: %w", p, err)
		}
	}
	return nil
}

// followTxnPartition elects or resigns the transaction coordinator of a
// __transaction_state partition as its leadership moves.
func (b *Broker) followTxnPartition(p int32, a meta.Partition) error {
	if b.txns == nil {
		return nil
	}
	if a.Leader != b.cfg.NodeID {
		b.txns.Resign(p)
		return nil
	}
	if err := b.txns.Elect(p, a.LeaderEpoch); err != nil {
		return fmt.Errorf("electing transaction coordinator %d: %w", p, err)
	}
	return nil
}

// txnLeader is the broker leading the transactional id's
// __transaction_state partition: its coordinator. The topic is created
// at the first call.
func (b *Broker) txnLeader(id string) (kmsg.MetadataResponseBroker, bool) {
	t, ok := b.meta.Topic(meta.TransactionStateTopic)
	if !ok {
		var err error
		if t, err = b.createTxnTopic(); err != nil {
			b.log.Warn("cannot create the transaction coordinators' topic yet", "err", err)
			return kmsg.MetadataResponseBroker{}, false
		}
	}
	if t.Partitions == 0 {
		return kmsg.MetadataResponseBroker{}, false
	}
	return b.broker(t.Assignments[txn.PartitionFor(id, t.Partitions)].Leader)
}

// createTxnTopic creates __transaction_state with
// transaction.state.log.replication.factor replicas, or as many as there
// are live brokers when fewer (one on a standalone node), and
// min.insync.replicas transaction.state.log.min.isr, at most the
// replication factor (Kafka keeps it as set, and then refuses every
// write to a topic with fewer replicas).
func (b *Broker) createTxnTopic() (meta.Topic, error) {
	settings := b.settings()
	rf := int16(1)
	if b.cfg.Clustered {
		rf = int16(max(1, min(int(settings.Int("transaction.state.log.replication.factor")), len(b.meta.Image().LiveBrokers()))))
	}
	minISR := min(settings.Int("transaction.state.log.min.isr"), int64(rf))
	t, err := b.createTopic(topicSpec{name: meta.TransactionStateTopic, partitions: int32(settings.Int("transaction.state.log.num.partitions")), rf: rf,
		configs: map[string]string{
			"cleanup.policy":      "compact",
			"compression.type":    "uncompressed",
			"min.insync.replicas": fmt.Sprint(minISR),
			"segment.bytes":       fmt.Sprint(settings.Int("transaction.state.log.segment.bytes")),
		}})
	if errors.Is(err, meta.ErrTopicExists) {
		t, _ = b.meta.Topic(meta.TransactionStateTopic) // another request created it first
		err = nil
	}
	if err != nil {
		return meta.Topic{}, fmt.Errorf("creating %s: %w", meta.TransactionStateTopic, err)
	}
	if !b.cfg.Clustered {
		if err := b.electTxnsStandalone(t); err != nil {
			return meta.Topic{}, err
		}
	}
	return t, nil
}

// offsetsPartitions is the partition count of __consumer_offsets, for
// AddOffsetsToTxn.
func (b *Broker) offsetsPartitions() int32 {
	if t, ok := b.meta.Topic(meta.ConsumerOffsetsTopic); ok {
		return t.Partitions
	}
	return int32(b.settings().Int("offsets.topic.num.partitions"))
}

func (b *Broker) partitionExists(topic string, p int32) bool {
	t, ok := b.meta.Topic(topic)
	return ok && p >= 0 && p < t.Partitions
}

// markerLeader is where a transaction's markers for a partition go.
func (b *Broker) markerLeader(topic string, p int32) (int32, bool) {
	t, ok := b.meta.Topic(topic)
	if !ok || p < 0 || p >= t.Partitions {
		return -1, false
	}
	return t.Assignments[p].Leader, true
}

// send sends req to broker: through Config.Send to another node, straight
// to this broker's own handler otherwise, at the highest version served.
func (b *Broker) send(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error) {
	if broker != b.cfg.NodeID && b.cfg.Send != nil {
		return b.cfg.Send(ctx, broker, req)
	}
	if broker != b.cfg.NodeID {
		return nil, fmt.Errorf("broker: no route to broker %d", broker)
	}
	a, ok := apis[req.Key()]
	if !ok {
		return nil, fmt.Errorf("broker: no handler for api key %d", req.Key())
	}
	req.SetVersion(a.max)
	resp, err := b.Handle(ctx, &Request{ClientID: "eddy-internal", Msg: req, internal: true})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("broker: no response")
	}
	resp.Release()
	return resp.Msg, nil
}

// millis reads a setting given in milliseconds.
func millis(settings interface{ Int(string) int64 }, name string) time.Duration {
	return time.Duration(settings.Int(name)) * time.Millisecond
}
