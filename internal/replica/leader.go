package replica

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// FollowerFetched records that replica asked for records from offset, so
// it holds everything below it (Kafka's updateFollowerFetchState): the
// high watermark may advance, a follower that caught up may rejoin the ISR.
// The caller then reads with ReadReplica. A broker that is not a replica
// gets ErrNotLeader, as Kafka answers it NOT_LEADER_OR_FOLLOWER.
func (p *Partition) FollowerFetched(replica int32, offset int64, now time.Time) error {
	leo := p.log.LogEndOffset()
	p.mu.Lock()
	if !p.mu.leader {
		p.mu.Unlock()
		return p.notLeader()
	}
	f := p.mu.followers[replica]
	if f == nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: broker %d is not a replica of %s-%d", ErrNotLeader, replica, p.topic, p.partition)
	}
	switch {
	case offset >= leo:
		f.lastCaughtUp = now
	case f.lastFetchLeaderLEO >= 0 && offset >= f.lastFetchLeaderLEO:
		f.lastCaughtUp = f.lastFetch // it reached what this log held at its last fetch
	}
	f.leo, f.lastFetch, f.lastFetchLeaderLEO = offset, now, leo
	var expand []int32
	if !slices.Contains(p.mu.isr, replica) && p.mu.pendingISR == nil &&
		offset >= p.log.HighWatermark() && offset >= p.mu.epochStart {
		expand = append(slices.Clone(p.mu.isr), replica)
	}
	p.mu.Unlock()
	p.maybeAdvanceHighWatermark()
	if expand != nil {
		p.proposeISR(expand, "caught up")
	}
	return nil
}

// maybeAdvanceHighWatermark moves the high watermark to the lowest log end
// offset over the ISR (and the replicas an expansion in flight adds: they
// count once they may be in it, Kafka's "maximal ISR"), unless the ISR is
// below min.insync.replicas, and wakes the produces it passed.
func (p *Partition) maybeAdvanceHighWatermark() {
	if hw, ok := p.committedEnd(); ok {
		p.log.SetHighWatermark(hw)
	}
	p.waiters.advance()
}

func (p *Partition) committedEnd() (int64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.mu.leader || p.tooFew() {
		return 0, false
	}
	hw := p.log.LogEndOffset()
	for _, id := range append(slices.Clone(p.mu.isr), p.mu.pendingISR...) {
		if id == p.self {
			continue
		}
		f := p.mu.followers[id]
		if f == nil || f.leo < 0 {
			return 0, false
		}
		hw = min(hw, f.leo)
	}
	return hw, true
}

// maybeShrinkISR drops from the ISR the followers that have not caught up
// within lagMax (replica.lag.time.max.ms), as Kafka's leader does.
func (p *Partition) maybeShrinkISR(now time.Time, lagMax time.Duration) {
	p.mu.RLock()
	if !p.mu.leader || p.mu.pendingISR != nil || p.alter == nil {
		p.mu.RUnlock()
		return
	}
	keep := make([]int32, 0, len(p.mu.isr))
	for _, id := range p.mu.isr {
		if f := p.mu.followers[id]; id == p.self || f != nil && now.Sub(f.lastCaughtUp) <= lagMax {
			keep = append(keep, id)
		}
	}
	shrink := len(keep) < len(p.mu.isr)
	p.mu.RUnlock()
	if shrink {
		p.proposeISR(keep, "lagging")
	}
}

// proposeISR asks the quorum for a new ISR, one change at a time, in the
// background: the fetch or check that decided it must not wait for Raft.
func (p *Partition) proposeISR(isr []int32, why string) {
	p.mu.Lock()
	if !p.mu.leader || p.mu.pendingISR != nil || p.alter == nil {
		p.mu.Unlock()
		return
	}
	c := ISRChange{Topic: p.topic, TopicID: p.mu.topicID, Partition: p.partition, Leader: p.self,
		LeaderEpoch: p.mu.epoch, PartitionEpoch: p.mu.partitionEpoch, ISR: isr}
	// Only additions count toward the high watermark while pending; a
	// removal takes effect once committed.
	p.mu.pendingISR = []int32{}
	for _, id := range isr {
		if !slices.Contains(p.mu.isr, id) {
			p.mu.pendingISR = append(p.mu.pendingISR, id)
		}
	}
	old := slices.Clone(p.mu.isr)
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		epoch, err := p.alter(ctx, c)
		p.isrChanged(c, epoch, err, old, why)
	}()
}

// isrChanged ends a proposal: on success the partition takes the new ISR
// at once (the image that carries it arrives later and changes nothing).
func (p *Partition) isrChanged(c ISRChange, epoch int32, err error, old []int32, why string) {
	p.mu.Lock()
	if p.mu.leader && p.mu.epoch == c.LeaderEpoch {
		p.mu.pendingISR = nil
		if err == nil && epoch > p.mu.partitionEpoch {
			p.isrMetrics.committed(p.mu.isr, c.ISR)
			p.mu.isr, p.mu.partitionEpoch = slices.Clone(c.ISR), epoch
		}
	}
	var few error
	if p.mu.leader && p.tooFew() {
		few = p.fewReplicas(ErrNotEnoughReplicasAfterAppend)
	}
	p.mu.Unlock()
	if err != nil {
		p.logger.Info("ISR change refused", "topic", c.Topic, "partition", c.Partition, "isr", c.ISR, "err", err)
		return
	}
	p.logger.Info("ISR changed", "topic", c.Topic, "partition", c.Partition, "from", old, "to", c.ISR, "why", why, "partition_epoch", epoch)
	if few != nil {
		p.waiters.failAll(few)
	}
	p.maybeAdvanceHighWatermark()
}
