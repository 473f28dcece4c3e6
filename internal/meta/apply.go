package meta

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
)

// Apply returns img with r applied, leaving img unchanged. It is
// deterministic: it chooses nothing, reads no clock and does no I/O, so
// every node that applies the same records in the same order holds the
// same image. An error means r does not fit img (a proposer's bug or a
// damaged log); it wraps ErrInvalidRecord or the sentinel naming the
// conflict (ErrTopicExists, ErrUnknownTopic, ...).
func Apply(img *Image, r Record) (*Image, error) {
	next := img.clone()
	if err := next.apply(r); err != nil {
		return nil, err
	}
	return next, nil
}

// apply changes img in place; only clones that no reader sees yet may be
// passed.
func (img *Image) apply(r Record) error {
	switch r := r.(type) {
	case TopicRecord:
		return img.applyTopic(r)
	case RemoveTopicRecord:
		return img.applyRemoveTopic(r)
	case PartitionRecord:
		return img.applyPartition(r)
	case ConfigRecord:
		return img.applyConfig(r)
	case BrokerRecord:
		return img.applyBroker(r)
	case ProducerIDsRecord:
		return img.applyProducerIDs(r)
	case BrokerFenceRecord:
		return img.applyBrokerFence(r)
	case ScramCredentialRecord:
		return img.applyScramCredential(r)
	case RemoveScramCredentialRecord:
		return img.applyRemoveScramCredential(r)
	case ACLRecord:
		return img.applyACL(r)
	case RemoveACLRecord:
		return img.applyRemoveACL(r)
	}
	return fmt.Errorf("%w: record of type %T", ErrInvalidRecord, r)
}

func (img *Image) applyTopic(r TopicRecord) error {
	switch {
	case ValidateTopicName(r.Name) != nil:
		return fmt.Errorf("%w: invalid topic name %q", ErrInvalidRecord, r.Name)
	case r.ID == [16]byte{}:
		return fmt.Errorf("%w: topic %q: zero id", ErrInvalidRecord, r.Name)
	case len(r.Partitions) < 1 || r.ReplicationFactor < 1:
		return fmt.Errorf("%w: topic %q: %d partitions, replication factor %d",
			ErrInvalidRecord, r.Name, len(r.Partitions), r.ReplicationFactor)
	}
	if _, dup := img.topics[r.Name]; dup {
		return fmt.Errorf("%w: %q", ErrTopicExists, r.Name)
	}
	if _, dup := img.byID[r.ID]; dup {
		return fmt.Errorf("%w: duplicate topic id %s", ErrInvalidRecord, FormatID(r.ID))
	}
	for i, p := range r.Partitions {
		if err := checkPartition(p); err != nil {
			return fmt.Errorf("%w: topic %q partition %d: %s", ErrInvalidRecord, r.Name, i, err)
		}
	}
	img.put(r.Topic())
	return nil
}

// checkPartition checks a partition's own invariants: at least one
// replica, none twice, the ISR among the replicas, the leader in the ISR.
func checkPartition(p Partition) error {
	if len(p.Replicas) == 0 {
		return fmt.Errorf("no replicas")
	}
	for i, id := range p.Replicas {
		if slices.Contains(p.Replicas[:i], id) {
			return fmt.Errorf("replica %d listed twice", id)
		}
	}
	for i, id := range p.ISR {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.ISR[:i], id) {
			return fmt.Errorf("in-sync replica %d not a replica or listed twice", id)
		}
	}
	if p.Leader != -1 && !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("leader %d not in sync", p.Leader)
	}
	return nil
}

func (img *Image) applyRemoveTopic(r RemoveTopicRecord) error {
	name, ok := img.byID[r.ID]
	if !ok {
		return fmt.Errorf("%w: id %s", ErrUnknownTopic, FormatID(r.ID))
	}
	delete(img.topics, name)
	delete(img.byID, r.ID)
	return nil
}

func (img *Image) applyPartition(r PartitionRecord) error {
	name, ok := img.byID[r.TopicID]
	if !ok {
		return fmt.Errorf("%w: id %s", ErrUnknownTopic, FormatID(r.TopicID))
	}
	t := img.topics[name].clone()
	if r.Index < 0 || r.Index > t.Partitions {
		return fmt.Errorf("%w: topic %q has %d partitions, record sets partition %d",
			ErrInvalidPartitions, name, t.Partitions, r.Index)
	}
	if err := checkPartition(r.Partition); err != nil {
		return fmt.Errorf("%w: topic %q partition %d: %s", ErrInvalidRecord, name, r.Index, err)
	}
	if r.Index == t.Partitions {
		t.Assignments = append(t.Assignments, r.Partition.clone())
		t.Partitions++
	} else {
		if err := checkPartitionChange(t.Assignments[r.Index], r.Partition); err != nil {
			return fmt.Errorf("%w: topic %q partition %d: %s", ErrStalePartitionEpoch, name, r.Index, err)
		}
		t.Assignments[r.Index] = r.Partition.clone()
	}
	img.put(t)
	return nil
}

// checkPartitionChange checks that next follows cur: the partition epoch
// one above, and the leader epoch one above when the leader changes and
// unchanged otherwise.
func checkPartitionChange(cur, next Partition) error {
	if next.PartitionEpoch != cur.PartitionEpoch+1 {
		return fmt.Errorf("partition epoch %d does not follow %d", next.PartitionEpoch, cur.PartitionEpoch)
	}
	want := cur.LeaderEpoch
	if next.Leader != cur.Leader {
		want++
	}
	if next.LeaderEpoch != want {
		return fmt.Errorf("leader %d at epoch %d does not follow leader %d at epoch %d", next.Leader, next.LeaderEpoch, cur.Leader, cur.LeaderEpoch)
	}
	return nil
}

func (img *Image) applyConfig(r ConfigRecord) error {
	if r.Type == kmsg.ConfigResourceTypeTopic {
		t, ok := img.topics[r.Name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownTopic, r.Name)
		}
		t.Configs = r.Configs
		img.put(t.clone())
		return nil
	}
	if !storedConfigType(r.Type) {
		return fmt.Errorf("%w: configs of resource type %v are not stored", config.ErrInvalidConfig, r.Type)
	}
	res := ConfigResource{r.Type, r.Name}
	if img.configs == nil {
		img.configs = map[ConfigResource]map[string]string{}
	}
	if len(r.Configs) == 0 {
		delete(img.configs, res)
	} else {
		img.configs[res] = maps.Clone(r.Configs)
	}
	if len(img.configs) == 0 {
		img.configs = nil
	}
	return nil
}

func (img *Image) put(t Topic) {
	img.topics[t.Name] = t
	img.byID[t.ID] = t.Name
}
