package meta

import "github.com/twmb/franz-go/pkg/kmsg"

// Record is one change to the metadata: the unit a controller proposes and
// every node applies in the same order (later, an entry of the Raft log).
// A record carries every choice made for it, topic IDs included, so that
// applying it is deterministic. recordcodec.go encodes records;
// docs/format/meta-records.md has the byte layout.
type Record interface {
	recordType() recordType
}

type recordType uint8

const (
	typeTopic       recordType = 1
	typeRemoveTopic recordType = 2
	typePartition   recordType = 3
	typeConfig      recordType = 4
	typeBroker      recordType = 5
	typeProducerIDs recordType = 6
	typeBrokerFence recordType = 7
	// SCRAM credentials (users.go).
	typeScramCredential       recordType = 8
	typeRemoveScramCredential recordType = 9
	typeACL                   recordType = 10 // acls.go
	typeRemoveACL             recordType = 11
)

// TopicRecord creates a topic with its partitions.
type TopicRecord struct {
	ID                [16]byte
	Name              string
	ReplicationFactor int16
	Internal          bool
	Configs           map[string]string // the topic's config overrides
	Partitions        []Partition       // at least one
}

// RemoveTopicRecord deletes a topic.
type RemoveTopicRecord struct {
	ID [16]byte
}

// PartitionRecord sets one partition of a topic: an existing one (a
// change of leader, ISR or replicas) or the next one (the topic grows).
// A change of an existing partition carries the next partition epoch, and
// a new leader the next leader epoch: a change proposed against an image
// that has moved on since (a stale leader's ISR change, two controllers
// racing) no longer fits and is refused (Kafka's partition epochs).
type PartitionRecord struct {
	TopicID [16]byte
	Index   int32 // the partition's number
	Partition
}

// ConfigRecord replaces all configs of one resource: a TOPIC (Name the
// topic's), a BROKER (Name "" for the cluster-wide defaults, else a broker
// id) or a GROUP. An empty Configs removes a BROKER or GROUP resource's
// configs and clears a topic's overrides.
type ConfigRecord struct {
	Type    kmsg.ConfigResourceType
	Name    string
	Configs map[string]string
}

func (TopicRecord) recordType() recordType       { return typeTopic }
func (RemoveTopicRecord) recordType() recordType { return typeRemoveTopic }
func (PartitionRecord) recordType() recordType   { return typePartition }
func (ConfigRecord) recordType() recordType      { return typeConfig }

// Topic returns the topic r creates.
func (r TopicRecord) Topic() Topic {
	t := Topic{Name: r.Name, ID: r.ID, Partitions: int32(len(r.Partitions)), ReplicationFactor: r.ReplicationFactor,
		Configs: r.Configs, Internal: r.Internal, Assignments: r.Partitions}
	return t.clone()
}
