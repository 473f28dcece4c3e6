package broker

// The group APIs — JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and
// OffsetDelete — are answered by internal/group's Manager, which owns the
// coordinators of the __consumer_offsets partitions this node leads and
// splits requests that name several groups. The broker only routes them there; their
// versions are listed in apis.go. One routing function stands in for the
// usual file per API key because each would hold the same three lines.
// Authorized operations in group descriptions are the broker's to answer
// (authorize.go), as Kafka's KafkaApis adds them to the coordinator's reply,
// and so are the ACL checks (authz_groups.go).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/group"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
)

func handleGroupRequest(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req, finish := b.authorizeGroupRequest(r)
	return b.routeGroupRequest(ctx, r, req, finish)
}

// routeGroupRequest sends req, the part of r its ACL checks let through
// (authz_groups.go; nil: none), to the coordinators, and finishes the answer.
func (b *Broker) routeGroupRequest(ctx context.Context, r *Request, req kmsg.Request, finish groupFinish) (*Response, error) {
	var resp kmsg.Response
	if req != nil {
		ctx = group.WithClient(ctx, group.ClientInfo{ClientID: r.ClientID, Host: "/" + r.ClientHost})
		var err error
		if resp, err = b.groups.Handle(ctx, req); err != nil {
			return nil, err
		}
	}
	resp = finish(resp)
	b.setGroupOperations(r, resp)
	return respond(resp)
}

// startGroups creates __consumer_offsets on a standalone node's first
// start and elects the group coordinators of the partitions this node
// leads (all of them, on a single node). A cluster creates the topic when
// a client first looks for a coordinator (ensureOffsetsTopic), as Kafka
// does, so that it is replicated over the brokers alive by then.
func (b *Broker) startGroups(ctx context.Context) error {
	numPartitions := int32(b.cfg.Settings.Int("offsets.topic.num.partitions"))
	if t, ok := b.meta.Topic(meta.ConsumerOffsetsTopic); ok {
		numPartitions = t.Partitions
	} else if !b.cfg.Clustered {
		t, err := b.createOffsetsTopic()
		if err != nil {
			return err
		}
		numPartitions = t.Partitions
	}
	groups, err := group.NewManager(ctx, group.Config{
		Logger:        b.log,
		NumPartitions: numPartitions,
		Registerer:    b.cfg.Registerer,
		Log: func(p int32) *replica.Partition {
			part, _ := b.replicas.Partition(meta.ConsumerOffsetsTopic, p)
			return part
		},
		PartitionExists: func(topic string, p int32) bool {
			t, ok := b.meta.Topic(topic)
			return ok && p >= 0 && p < t.Partitions
		},
		TopicName: func(id [16]byte) (string, bool) {
			t, ok := b.meta.TopicByID(id)
			return t.Name, ok
		},
		TopicID: func(topic string) ([16]byte, bool) {
			t, ok := b.meta.Topic(topic)
			return t.ID, ok
		},
		Topics: func() map[string]int32 {
			out := make(map[string]int32)
			for _, t := range b.meta.Topics() {
				out[t.Name] = t.Partitions
			}
			return out
		},
		Settings: b.cfg.Settings,
		GroupConfig: func(group, name string) (string, bool) {
			return b.meta.Config(meta.ConfigResource{Type: kmsg.ConfigResourceTypeGroupConfig, Name: group}, name)
		},
	})
	if err != nil {
		return fmt.Errorf("starting group coordinators: %w", err)
	}
	b.groups = groups
	for p := range numPartitions {
		part, err := b.replicas.Partition(meta.ConsumerOffsetsTopic, p)
		if err != nil {
			continue // led elsewhere, or not here yet
		}
		epoch, _ := part.LeaderEpoch()
		if err := groups.Elect(p, epoch); err != nil {
			groups.Close()
			return fmt.Errorf("electing group coordinator %d: %w", p, err)
		}
	}
	return nil
}

// createOffsetsTopic creates __consumer_offsets with
// offsets.topic.replication.factor replicas, or as many as there are live
// brokers when fewer (one on a standalone node).
func (b *Broker) createOffsetsTopic() (meta.Topic, error) {
	settings := b.settings()
	rf := int16(1)
	if b.cfg.Clustered {
		rf = int16(max(1, min(int(settings.Int("offsets.topic.replication.factor")), len(b.meta.Image().LiveBrokers()))))
	}
	t, err := b.createTopic(topicSpec{name: meta.ConsumerOffsetsTopic, partitions: int32(settings.Int("offsets.topic.num.partitions")), rf: rf,
		configs: map[string]string{
			"cleanup.policy": "compact",
			"segment.bytes":  fmt.Sprint(settings.Int("offsets.topic.segment.bytes")),
		}})
	if errors.Is(err, meta.ErrTopicExists) && b.cfg.Clustered {
		t, _ = b.meta.Topic(meta.ConsumerOffsetsTopic) // another node created it first
		err = nil
	}
	if err != nil {
		return meta.Topic{}, fmt.Errorf("creating %s: %w", meta.ConsumerOffsetsTopic, err)
	}
	return t, nil
}

// Close stops the group and transaction coordinators; the caller closes
// storage after.
func (b *Broker) Close() error {
	if b.stop != nil {
		b.stop()
		b.wg.Wait()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	if b.groups == nil {
		return nil
	}
	return b.groups.Close()
}
