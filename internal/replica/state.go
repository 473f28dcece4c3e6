package replica

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// State is a partition's placement and leadership as the metadata image
// gives it: what Manager.Apply makes this node's replica follow.
type State struct {
	TopicID        [16]byte
	Leader         int32 // -1: none
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// ISRChange is a leader's request to replace a partition's ISR (Kafka's
// AlterPartition): the quorum refuses it unless the leader and both epochs
// are still the partition's, so a stale leader cannot change the ISR.
type ISRChange struct {
	Topic          string
	TopicID        [16]byte
	Partition      int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterISR proposes an ISR change to the metadata quorum and returns the
// partition epoch the change took effect at.
type AlterISR func(ctx context.Context, c ISRChange) (partitionEpoch int32, err error)

// followerState is the leader's view of one other replica's progress
// (Kafka's Replica state).
type followerState struct {
	leo                int64 // the offset it last fetched from; -1 before its first fetch
	lastFetch          time.Time
	lastFetchLeaderLEO int64 // this log's end at that fetch
	lastCaughtUp       time.Time
}

// apply makes the partition follow s; a state older than the one applied
// (a lower leader epoch) is refused with ErrStaleEpoch. It reports whether
// this node leads afterwards.
func (p *Partition) apply(s State, now time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.LeaderEpoch < p.mu.epoch {
		return p.mu.leader, fmt.Errorf("%w: %s-%d at epoch %d, asked %d", ErrStaleEpoch, p.topic, p.partition, p.mu.epoch, s.LeaderEpoch)
	}
	newLeadership := s.LeaderEpoch != p.mu.epoch || s.Leader != p.mu.leaderID || !p.mu.leader
	if s.LeaderEpoch == p.mu.epoch && s.PartitionEpoch < p.mu.partitionEpoch {
		// A late image: the ISR this leader already changed is newer.
		return p.mu.leader, nil
	}
	if !newLeadership && s.Leader == p.self && s.PartitionEpoch > p.mu.partitionEpoch {
		// The controller changed the ISR of a partition led here (it
		// fenced a follower), or this leader's own change arrived before
		// its answer did: counted here, and not again by isrChanged.
		p.isrMetrics.committed(p.mu.isr, s.ISR)
	}
	p.mu.epoch, p.mu.partitionEpoch, p.mu.leaderID, p.mu.topicID = s.LeaderEpoch, s.PartitionEpoch, s.Leader, s.TopicID
	p.mu.replicas, p.mu.isr = slices.Clone(s.Replicas), slices.Clone(s.ISR)
	if s.Leader != p.self {
		p.mu.leader, p.mu.followers, p.mu.pendingISR = false, nil, nil
		p.waiters.stop(p.notLeader())
		return false, nil
	}
	if newLeadership {
		p.mu.leader, p.mu.pendingISR, p.mu.epochStart = true, nil, p.log.LogEndOffset()
		p.mu.followers = map[int32]*followerState{}
		p.waiters.start()
	}
	// Every replica has a state; one that joins the ISR (or starts in it)
	// gets a fresh lag clock, as Kafka's leader gives at election.
	for _, id := range s.Replicas {
		if id != p.self && p.mu.followers[id] == nil {
			p.mu.followers[id] = &followerState{leo: -1, lastFetchLeaderLEO: -1, lastCaughtUp: now}
		}
	}
	for id := range p.mu.followers {
		if !slices.Contains(s.Replicas, id) {
			delete(p.mu.followers, id)
		}
	}
	if p.tooFew() {
		p.waiters.failAll(p.fewReplicas(ErrNotEnoughReplicasAfterAppend))
	}
	return true, nil
}

// enoughReplicas returns err (ErrNotEnoughReplicas before an append,
// ErrNotEnoughReplicasAfterAppend after) when the ISR is below
// min.insync.replicas.
func (p *Partition) enoughReplicas(err error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.tooFew() {
		return p.fewReplicas(err)
	}
	return nil
}

// tooFew reports an ISR below min.insync.replicas (the topic's, read
// each time, since it may change); the caller holds mu. acks=all needs
// that many replicas in sync, and the high watermark does not advance with
// fewer (Kafka's KIP-966 "strict min ISR").
func (p *Partition) tooFew() bool { return int64(len(p.mu.isr)) < p.log.Config().MinInsyncReplicas }

func (p *Partition) fewReplicas(err error) error {
	return fmt.Errorf("%w: %s-%d has %d in-sync replicas %v, min.insync.replicas is %d",
		err, p.topic, p.partition, len(p.mu.isr), p.mu.isr, p.log.Config().MinInsyncReplicas)
}

// Leader returns the partition's leader as this node last applied it, and
// its epoch; -1 when there is none.
func (p *Partition) Leader() (int32, int32) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.mu.leaderID, p.mu.epoch
}

// followed returns the leader this replica follows, at which epoch, and
// the topic's id; leader -1 when this node leads or no one does.
func (p *Partition) followed() (leader, epoch int32, topicID [16]byte) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.mu.leader {
		return -1, p.mu.epoch, p.mu.topicID
	}
	return p.mu.leaderID, p.mu.epoch, p.mu.topicID
}
