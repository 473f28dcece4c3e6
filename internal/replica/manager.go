package replica

import (
	"fmt"
	"sync"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// Config configures a Manager.
type Config struct {
	// NodeID is this node, the in-sync replica of what it leads.
	NodeID int32
	// Logs are the node's partition logs; a Partition is made over one
	// when this node leads it.
	Logs *storage.Manager
}

type topicPartition struct {
	topic     string
	partition int32
}

// Manager is the registry of this node's Partitions.
type Manager struct {
	cfg Config

	mu struct {
		sync.RWMutex
		parts map[topicPartition]*Partition
	}
}

// NewManager returns a Manager with no partitions; Lead adds them.
func NewManager(cfg Config) *Manager {
	m := &Manager{cfg: cfg}
	m.mu.parts = make(map[topicPartition]*Partition)
	return m
}

// Partition returns the partition if this node leads it; ErrUnknownPartition
// if this node has no replica of it, ErrNotLeader if it has one it does not
// lead.
func (m *Manager) Partition(topic string, partition int32) (*Partition, error) {
	m.mu.RLock()
	p := m.mu.parts[topicPartition{topic, partition}]
	m.mu.RUnlock()
	if p == nil {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, topic, partition)
	}
	if _, err := p.leaderEpoch(); err != nil {
		return nil, err
	}
	return p, nil
}

// Lead makes this node the leader, at epoch, of partitions [from, to) of
// topic, whose logs must exist. A partition already led at a newer epoch
// is left as it is and ErrStaleEpoch returned.
func (m *Manager) Lead(topic string, from, to, epoch int32) error {
	for p := from; p < to; p++ {
		part, err := m.replica(topic, p)
		if err == nil {
			err = part.lead(epoch, m.cfg.NodeID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replica returns the Partition of topic/partition, made over its log if
// there is none yet.
func (m *Manager) replica(topic string, partition int32) (*Partition, error) {
	tp := topicPartition{topic, partition}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.mu.parts[tp]; p != nil {
		return p, nil
	}
	l := m.cfg.Logs.Log(topic, partition)
	if l == nil {
		return nil, fmt.Errorf("%w: %s-%d has no log on this node", ErrUnknownPartition, topic, partition)
	}
	p := newPartition(topic, partition, l)
	m.mu.parts[tp] = p
	return p, nil
}

// Stop ends this node's leadership of topic/partition, keeping its replica:
// requests get ErrNotLeader and waiting acks=all produces fail with it.
func (m *Manager) Stop(topic string, partition int32) {
	m.mu.RLock()
	p := m.mu.parts[topicPartition{topic, partition}]
	m.mu.RUnlock()
	if p != nil {
		p.stop()
	}
}

// RemoveTopic stops and forgets every partition of topic, whose logs are
// being deleted.
func (m *Manager) RemoveTopic(topic string) {
	m.mu.Lock()
	var gone []*Partition
	for tp, p := range m.mu.parts {
		if tp.topic == topic {
			gone = append(gone, p)
			delete(m.mu.parts, tp)
		}
	}
	m.mu.Unlock()
	for _, p := range gone {
		p.stop()
	}
}
