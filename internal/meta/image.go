package meta

import (
	"encoding/base64"
	"maps"
	"slices"
)

// Topic is a topic's metadata.
type Topic struct {
	Name              string
	ID                [16]byte
	Partitions        int32 // len(Assignments)
	ReplicationFactor int16
	Configs           map[string]string // explicit overrides only; never nil
	Internal          bool
	// Assignments holds each partition's replicas and leadership, indexed
	// by partition. On a single node every partition is this node's.
	Assignments []Partition
}

// Partition is one partition's placement and leadership, as KRaft's
// PartitionRecord carries it.
type Partition struct {
	Replicas       []int32 // broker ids, the preferred leader first
	ISR            []int32 // the in-sync replicas, a subset of Replicas
	Leader         int32   // a broker id from ISR, or -1 for none
	LeaderEpoch    int32   // bumped on every leader change
	PartitionEpoch int32   // bumped on every change of this partition
}

func (p Partition) clone() Partition {
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	return p
}

func (t Topic) clone() Topic {
	t.Configs = maps.Clone(t.Configs)
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	t.Assignments = slices.Clone(t.Assignments)
	for i := range t.Assignments {
		t.Assignments[i] = t.Assignments[i].clone()
	}
	return t
}

// LocalPartition is a partition held by node alone: its only replica and
// leader, at epoch 0.
func LocalPartition(node int32) Partition {
	return Partition{Replicas: []int32{node}, ISR: []int32{node}, Leader: node}
}

// FormatID renders a topic or cluster ID as Kafka does: 22 characters of
// URL-safe base64 without padding.
func FormatID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Image is one version of the metadata: what every node holds after
// applying the same records in the same order. An Image is never modified
// once published; Apply returns a new one. Its methods return copies.
type Image struct {
	clusterID string
	topics    map[string]Topic // values never modified: replaced whole
	byID      map[[16]byte]string
	// configs holds the dynamic configs of BROKER and GROUP resources
	// (configs.go); nil when there are none. Each inner map is replaced,
	// never modified.
	configs map[ConfigResource]map[string]string
	// brokers holds the registered brokers (broker.go); nil when none.
	brokers map[int32]Broker
	// nextProducerID starts the next block of producer ids (broker.go).
	nextProducerID int64
	// users holds the SCRAM credentials by user (users.go); nil when none.
	users map[string]userCredentials
	// acls holds the ACLs (acls.go); nil when there are none. Shared
	// with the image it was cloned from until an ACL record changes it.
	acls *aclTable
}

// NewImage returns the empty metadata of a new cluster.
func NewImage(clusterID string) *Image {
	return &Image{clusterID: clusterID, topics: map[string]Topic{}, byID: map[[16]byte]string{}}
}

// clone copies the maps, not the topics: Apply replaces a topic whole.
func (img *Image) clone() *Image {
	return &Image{clusterID: img.clusterID, topics: maps.Clone(img.topics), byID: maps.Clone(img.byID),
		configs: maps.Clone(img.configs), brokers: maps.Clone(img.brokers), nextProducerID: img.nextProducerID,
		users: maps.Clone(img.users), acls: img.acls}
}

// ClusterID returns the cluster's ID.
func (img *Image) ClusterID() string { return img.clusterID }

// Topic returns the named topic.
func (img *Image) Topic(name string) (Topic, bool) {
	t, ok := img.topics[name]
	return t.clone(), ok
}

// TopicByID returns the topic with the given ID.
func (img *Image) TopicByID(id [16]byte) (Topic, bool) {
	name, ok := img.byID[id]
	if !ok {
		return Topic{}, false
	}
	return img.topics[name].clone(), true
}

// Topics returns every topic, sorted by name.
func (img *Image) Topics() []Topic {
	out := make([]Topic, 0, len(img.topics))
	for _, name := range slices.Sorted(maps.Keys(img.topics)) {
		out = append(out, img.topics[name].clone())
	}
	return out
}

// HasTopicID reports whether a topic has the given ID.
func (img *Image) HasTopicID(id [16]byte) bool {
	_, ok := img.byID[id]
	return ok
}

// TopicCount returns the number of topics.
func (img *Image) TopicCount() int { return len(img.topics) }

// PartitionCount returns the partitions of all topics together.
func (img *Image) PartitionCount() int64 {
	var n int64
	for _, t := range img.topics {
		n += int64(t.Partitions)
	}
	return n
}

// Collision returns an existing topic whose name differs from name only
// by '.' versus '_' (metric names cannot tell them apart).
func (img *Image) Collision(name string) (string, bool) {
	key := collisionKey(name)
	for other := range img.topics {
		if other != name && collisionKey(other) == key {
			return other, true
		}
	}
	return "", false
}

// Configs returns a copy of a resource's configs; nil if it has none.
func (img *Image) Configs(r ConfigResource) map[string]string { return maps.Clone(img.configs[r]) }

// Config returns one config of a resource.
func (img *Image) Config(r ConfigResource, name string) (string, bool) {
	v, ok := img.configs[r][name]
	return v, ok
}
