package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// Config configures a Manager.
type Config struct {
	// NodeID is this node: the leader of what it leads, the replica id of
	// its fetches.
	NodeID int32
	// Logs are the node's partition logs; a Partition is made over one
	// when the metadata places a replica here.
	Logs   *storage.Manager
	Logger *slog.Logger
	// Send sends a request to a broker and returns its response: how a
	// follower fetches from its leader. Nil on a standalone node.
	Send func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)
	// AlterISR proposes a led partition's ISR changes; nil on a standalone
	// node, whose ISR is itself alone.
	AlterISR AlterISR
	// LagTimeMax is replica.lag.time.max.ms: a follower that has not
	// caught up for this long leaves the ISR.
	LagTimeMax time.Duration
	// FetchMaxBytes, FetchMinBytes and FetchWait are replica.fetch.max.bytes,
	// replica.fetch.min.bytes and replica.fetch.wait.max.ms.
	FetchMaxBytes int32
	FetchMinBytes int32
	FetchWait     time.Duration
	// SyncFollower makes a follower fsync what it fetched before it asks
	// for more, so that what the leader acknowledges at acks=all is on
	// the disks of the whole ISR (eddy.fsync.acks.all).
	SyncFollower bool
	// Registerer receives the ISR change counters (metrics.go); nil
	// leaves them off.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LagTimeMax <= 0 {
		c.LagTimeMax = 30 * time.Second
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 1 << 20
	}
	if c.FetchMinBytes <= 0 {
		c.FetchMinBytes = 1
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 500 * time.Millisecond
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

// Manager is the registry of this node's Partitions and the owner of its
// fetchers: one goroutine per leader this node follows partitions of.
type Manager struct {
	cfg    Config
	isr    *isrMetrics
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.RWMutex
		parts    map[topicPartition]*Partition
		fetchers map[int32]*fetcher // by leader
		closed   bool
	}
}

// NewManager returns a Manager with no partitions; Apply and Lead add
// them. With cfg.AlterISR set it checks the ISRs of what it leads until
// Close.
func NewManager(cfg Config) *Manager {
	cfg.setDefaults()
	m := &Manager{cfg: cfg, isr: newISRMetrics(cfg.Registerer, cfg.Logger)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.parts = make(map[topicPartition]*Partition)
	m.mu.fetchers = make(map[int32]*fetcher)
	if cfg.AlterISR != nil {
		m.wg.Go(m.checkISRs)
	}
	return m
}

// Close stops the fetchers and the ISR checks.
func (m *Manager) Close() {
	m.mu.Lock()
	m.mu.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
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

// Replica returns this node's replica of a partition, led here or not.
func (m *Manager) Replica(topic string, partition int32) (*Partition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.mu.parts[topicPartition{topic, partition}]
	return p, p != nil
}

// Lead makes this node the only replica and the leader, at epoch, of
// partitions [from, to) of topic, whose logs must exist: a standalone
// node's partitions. A partition already led at a newer epoch is left as
// it is and ErrStaleEpoch returned.
func (m *Manager) Lead(topic string, from, to, epoch int32) error {
	self := []int32{m.cfg.NodeID}
	for p := from; p < to; p++ {
		if err := m.Apply(topic, p, State{Leader: m.cfg.NodeID, LeaderEpoch: epoch, Replicas: self, ISR: self}); err != nil {
			return err
		}
	}
	return nil
}

// Apply makes this node's replica of topic/partition, whose log must
// exist, follow s: lead it, or fetch it from its leader. A state older
// than the one applied is refused with ErrStaleEpoch.
func (m *Manager) Apply(topic string, partition int32, s State) error {
	part, err := m.replica(topic, partition)
	if err != nil {
		return err
	}
	leads, err := part.apply(s, time.Now())
	if err != nil {
		return err
	}
	leader := s.Leader
	if leads {
		leader = -1
		part.maybeAdvanceHighWatermark()
	}
	m.fetchFrom(topicPartition{topic, partition}, part, leader)
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
	p := newPartition(topic, partition, m.cfg.NodeID, l, m.cfg.AlterISR, m.cfg.Logger)
	p.isrMetrics = m.isr
	m.mu.parts[tp] = p
	return p, nil
}

// fetchFrom moves tp to the fetcher of leader (none when leader is -1,
// this node leads, or there is no way to fetch), starting that fetcher if
// needed, and wakes it: the partition's epoch may have changed.
func (m *Manager) fetchFrom(tp topicPartition, p *Partition, leader int32) {
	if m.cfg.Send == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, f := range m.mu.fetchers {
		if id != leader {
			f.remove(tp)
		}
	}
	if leader < 0 || m.mu.closed {
		return
	}
	f := m.mu.fetchers[leader]
	if f == nil {
		f = newFetcher(m, leader)
		m.mu.fetchers[leader] = f
		m.wg.Go(func() { f.run(m.ctx) })
	}
	f.add(tp, p)
}

// Stop ends this node's leadership of topic/partition, keeping its replica:
// requests get ErrNotLeader and waiting acks=all produces fail with it.
func (m *Manager) Stop(topic string, partition int32) {
	tp := topicPartition{topic, partition}
	m.mu.RLock()
	p := m.mu.parts[tp]
	m.mu.RUnlock()
	if p != nil {
		p.stop()
		m.fetchFrom(tp, p, -1)
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
			for _, f := range m.mu.fetchers {
				f.remove(tp)
			}
		}
	}
	m.mu.Unlock()
	for _, p := range gone {
		p.stop()
	}
}

// checkISRs drops lagging followers from the ISRs of led partitions, every
// half replica.lag.time.max.ms as Kafka does.
func (m *Manager) checkISRs() {
	t := time.NewTicker(m.cfg.LagTimeMax / 2)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.mu.RLock()
			parts := make([]*Partition, 0, len(m.mu.parts))
			for _, p := range m.mu.parts {
				parts = append(parts, p)
			}
			m.mu.RUnlock()
			for _, p := range parts {
				p.maybeShrinkISR(now, m.cfg.LagTimeMax)
			}
		}
	}
}
