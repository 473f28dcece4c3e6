package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// A clustered broker (Config.Clustered) does not create or delete logs in
// its admin handlers: the metadata quorum decides, and every node makes its
// logs and leaderships follow the image it applies (reconcileCluster). A
// standalone node keeps creating a topic's logs before its metadata, so a
// failure there changes nothing.

// watchImage reconciles after every metadata change, on its own goroutine:
// subscribers run on the quorum's goroutine and must not wait for disk.
func (b *Broker) watchImage(ctx context.Context) {
	wake := make(chan struct{}, 1)
	b.meta.Subscribe(func(_, _ *meta.Image) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	b.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			if err := b.reconcileCluster(); err != nil {
				b.log.Error("following the metadata failed; retried at the next change", "err", err)
			}
		}
	})
}

// reconcileCluster makes this node hold a log of every partition the
// image places here, lead those it names this node the leader of, elect
// their group coordinators, and drop the logs of deleted topics.
func (b *Broker) reconcileCluster() error {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	img := b.meta.Image()
	// Dynamic broker configs another node changed take effect here too:
	// first in the settings the logs' configs resolve against below.
	next := b.meta.BrokerConfig(b.cfg.Settings, b.cfg.NodeID)
	cur := b.settings()
	changed := !maps.Equal(next.Dynamic(true), cur.Dynamic(true)) || !maps.Equal(next.Dynamic(false), cur.Dynamic(false))
	if changed {
		b.storeSettings(next)
	}
	var errs []error
	for _, t := range img.Topics() {
		errs = append(errs, b.followTopic(t))
	}
	for _, name := range b.logs.Topics() {
		if _, ok := img.Topic(name); !ok {
			b.replicas.RemoveTopic(name)
			if err := b.logs.DeleteTopic(name); err != nil {
				errs = append(errs, fmt.Errorf("deleting logs of %s: %w", name, err))
			} else {
				b.log.Info("topic deleted", "topic", name)
			}
			b.metrics.dropTopic(name)
		}
	}
	if changed && b.cfg.OnSettingsChange != nil {
		b.cfg.OnSettingsChange(next)
	}
	return errors.Join(errs...)
}

// followTopic creates the logs of t's partitions placed on this node and
// makes each replica lead or follow as the image says, electing or
// resigning the group coordinators of __consumer_offsets with it.
func (b *Broker) followTopic(t meta.Topic) error {
	lc := config.ResolveLogConfig(t.Configs, b.settings())
	self := b.cfg.NodeID
	for p, a := range t.Assignments {
		if !slices.Contains(a.Replicas, self) {
			continue
		}
		part := int32(p)
		if l := b.logs.Log(t.Name, part); l != nil {
			l.SetConfig(lc)
		} else if err := b.createLog(t.Name, part, lc); err != nil {
			return err
		}
		s := replica.State{TopicID: t.ID, Leader: a.Leader, LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch,
			Replicas: a.Replicas, ISR: a.ISR}
		if err := b.replicas.Apply(t.Name, part, s); err != nil && !errors.Is(err, replica.ErrStaleEpoch) {
			return fmt.Errorf("following %s-%d: %w", t.Name, part, err)
		}
		if t.Name == meta.TransactionStateTopic {
			if err := b.followTxnPartition(part, a); err != nil {
				return err
			}
			continue
		}
		if t.Name != meta.ConsumerOffsetsTopic || b.groups == nil {
			continue
		}
		if a.Leader != self {
			b.groups.Resign(part)
		} else if err := b.groups.Elect(part, a.LeaderEpoch); err != nil {
			return fmt.Errorf("electing group coordinator %d: %w", part, err)
		}
	}
	return nil
}

func (b *Broker) createLog(topic string, p int32, lc storage.LogConfig) error {
	logs, err := b.logs.CreateLogs(topic, p, p+1, lc)
	if err == nil {
		err = logs.Publish()
	}
	if err != nil {
		return fmt.Errorf("creating the log of %s-%d: %w", topic, p, err)
	}
	return nil
}

// brokers are the brokers clients are told of: the live (unfenced) ones
// on a cluster, as Kafka's KRaft brokers list them, this node on a
// standalone one.
func (b *Broker) brokers() []kmsg.MetadataResponseBroker {
	img := b.meta.Image()
	if len(img.Brokers()) == 0 {
		return []kmsg.MetadataResponseBroker{b.self()}
	}
	registered := img.LiveBrokers()
	out := make([]kmsg.MetadataResponseBroker, 0, len(registered))
	for _, r := range registered {
		br := kmsg.MetadataResponseBroker{NodeID: r.ID, Host: r.Host, Port: r.Port}
		if r.Rack != "" {
			br.Rack = kmsg.StringPtr(r.Rack)
		}
		out = append(out, br)
	}
	return out
}

// broker returns where a broker is reached, if it is known.
func (b *Broker) broker(id int32) (kmsg.MetadataResponseBroker, bool) {
	for _, br := range b.brokers() {
		if br.NodeID == id {
			return br, true
		}
	}
	return kmsg.MetadataResponseBroker{}, false
}

// controllerID is the node reported as the controller.
func (b *Broker) controllerID() int32 {
	if b.cfg.Controller == nil {
		return b.cfg.NodeID
	}
	return b.cfg.Controller()
}

// partition returns this node's replica of a partition it leads. A
// partition of the metadata that this node does not hold is led elsewhere,
// or here by an image this node has not made its replica for yet: as in
// Kafka, NOT_LEADER_OR_FOLLOWER sends the client to refresh its metadata
// and retry.
func (b *Broker) partition(topic string, p int32) (*replica.Partition, error) {
	part, err := b.replicas.Partition(topic, p)
	if errors.Is(err, replica.ErrUnknownPartition) {
		if t, ok := b.meta.Topic(topic); ok && p >= 0 && p < t.Partitions {
			if leader := t.Assignments[p].Leader; leader != b.cfg.NodeID {
				return nil, fmt.Errorf("%w: %s-%d is led by broker %d", replica.ErrNotLeader, topic, p, leader)
			}
			return nil, fmt.Errorf("%w: %s-%d is becoming led here", replica.ErrNotLeader, topic, p)
		}
	}
	return part, err
}

// currentLeader is a partition's leader and leader epoch as the image
// names them; false when the topic or partition is unknown or leaderless.
func (b *Broker) currentLeader(topic string, p int32) (leader, epoch int32, ok bool) {
	t, found := b.meta.Topic(topic)
	if !found || p < 0 || p >= t.Partitions || t.Assignments[p].Leader < 0 {
		return -1, -1, false
	}
	a := t.Assignments[p]
	return a.Leader, a.LeaderEpoch, true
}
