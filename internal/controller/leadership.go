package controller

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// Errors of leadership changes; the handlers map them to Kafka's codes.
var (
	// ErrFencedLeaderEpoch: an ISR change from a leader that is no longer
	// the partition's leader at that epoch (FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("controller: the proposer is not the partition's current leader")
	// ErrInvalidUpdateVersion: an ISR change made against an older
	// partition epoch (INVALID_UPDATE_VERSION).
	ErrInvalidUpdateVersion = errors.New("controller: stale partition epoch")
	// ErrIneligibleReplica: an ISR change that adds a fenced broker or a
	// non-replica (INELIGIBLE_REPLICA).
	ErrIneligibleReplica = errors.New("controller: replica not eligible for the ISR")
	// ErrUnknownBroker: a broker that is not registered, or an older
	// incarnation of one (STALE_BROKER_EPOCH).
	ErrUnknownBroker = errors.New("controller: unknown broker or stale broker epoch")
	// ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable and
	// ErrEligibleLeadersNotAvailable are ElectLeaders' per-partition
	// outcomes.
	ErrElectionNotNeeded           = errors.New("controller: the partition already has the leader asked for")
	ErrPreferredLeaderNotAvailable = errors.New("controller: the preferred leader is fenced or out of sync")
	ErrEligibleLeadersNotAvailable = errors.New("controller: no live replica can lead")
	ErrUnknownPartition            = errors.New("controller: unknown topic or partition")
)

// proposeLeadership proposes records built on the current image and, when
// they no longer fit because another change to the same partitions was
// applied first (two brokers fenced or registering at once, a leader's ISR
// change racing an election), builds them again on the newer image: the
// checks in propose then judge the change against what is current.
// The leader changes among the records committed are counted against the
// image they were built on: the quorum refuses them unless every
// partition they change is still at the epoch it had there.
func (c *Controller) proposeLeadership(propose func(img *meta.Image) ([]meta.Record, error)) (*meta.Image, error) {
	var (
		built   *meta.Image
		records []meta.Record
	)
	build := func(img *meta.Image) ([]meta.Record, error) {
		rs, err := propose(img)
		built, records = img, rs
		return rs, err
	}
	for tries := 1; ; tries++ {
		img, err := c.cfg.Store.Propose(build)
		if err == nil {
			c.metrics.committed(built, records)
		}
		if !errors.Is(err, meta.ErrStalePartitionEpoch) || tries == 10 {
			return img, err
		}
	}
}

// RegisterBroker records where a broker is reached, as a new incarnation.
// The registration fences it until it heartbeats; an older incarnation's
// leaderships and ISR memberships end with it, since what it acknowledged
// since its last fsync may be gone.
func (c *Controller) RegisterBroker(b meta.Broker) error {
	_, err := c.proposeLeadership(func(img *meta.Image) ([]meta.Record, error) {
		old, ok := img.Broker(b.ID)
		if ok && old.Epoch == b.Epoch && old.Host == b.Host && old.Port == b.Port && old.Rack == b.Rack {
			// A retry of a registration the quorum applied although the
			// proposer was told it might not have (a leader change).
			return nil, errRegistered
		}
		records := []meta.Record{meta.BrokerRecord{Broker: b}}
		if ok {
			records = append(records, c.leave(img, b.ID)...)
		}
		return records, nil
	})
	if errors.Is(err, errRegistered) {
		return nil
	}
	return err
}

var errRegistered = errors.New("controller: already registered")

// FenceBroker fences the incarnation epoch of broker id (its session
// expired, or it shuts down): its partitions get new leaders from their
// ISRs and it leaves every ISR it is not the last member of.
func (c *Controller) FenceBroker(id int32, epoch int64) error {
	_, err := c.proposeLeadership(func(img *meta.Image) ([]meta.Record, error) {
		b, ok := img.Broker(id)
		if !ok || b.Epoch != epoch {
			return nil, fmt.Errorf("%w: broker %d epoch %d", ErrUnknownBroker, id, epoch)
		}
		records := c.leave(img, id)
		if !b.Fenced {
			records = append([]meta.Record{meta.BrokerFenceRecord{ID: id, Epoch: epoch, Fenced: true}}, records...)
		}
		return records, nil
	})
	return err
}

// UnfenceBroker unfences the incarnation epoch of broker id and makes it
// the leader of the leaderless partitions whose ISR it is in.
func (c *Controller) UnfenceBroker(id int32, epoch int64) error {
	_, err := c.proposeLeadership(func(img *meta.Image) ([]meta.Record, error) {
		b, ok := img.Broker(id)
		if !ok || b.Epoch != epoch {
			return nil, fmt.Errorf("%w: broker %d epoch %d", ErrUnknownBroker, id, epoch)
		}
		if !b.Fenced {
			return nil, nil
		}
		records := []meta.Record{meta.BrokerFenceRecord{ID: id, Epoch: epoch}}
		live := func(r int32) bool { return r == id || img.Live(r) }
		for _, t := range img.Topics() {
			for i, p := range t.Assignments {
				if p.Leader != -1 || !slices.Contains(p.Replicas, id) {
					continue
				}
				if leader := firstOf(p.Replicas, p.ISR, live); leader != -1 {
					records = append(records, change(t, i, p.ISR, leader))
				}
			}
		}
		return records, nil
	})
	return err
}

// leave returns the records that take broker id out of leaderships and
// ISRs, in img where it is about to be fenced. A partition whose ISR would
// empty keeps id as its last member and goes leaderless, unless
// unclean.leader.election.enable lets a live replica outside the ISR lead.
func (c *Controller) leave(img *meta.Image, id int32) []meta.Record {
	live := func(r int32) bool { return r != id && img.Live(r) }
	var records []meta.Record
	for _, t := range img.Topics() {
		for i, p := range t.Assignments {
			if p.Leader != id && !slices.Contains(p.ISR, id) {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
			if len(isr) == 0 {
				isr = p.ISR
			}
			leader := p.Leader
			if leader == id || leader == -1 {
				leader = firstOf(p.Replicas, isr, live)
			}
			if leader == -1 && c.uncleanAllowed(img, t) {
				if leader = firstOf(p.Replicas, p.Replicas, live); leader != -1 {
					isr = []int32{leader}
				}
			}
			records = append(records, change(t, i, isr, leader))
		}
	}
	return records
}

func (c *Controller) uncleanAllowed(img *meta.Image, t meta.Topic) bool {
	if v, ok := t.Configs["unclean.leader.election.enable"]; ok {
		b, _ := strconv.ParseBool(v)
		return b
	}
	return c.cfg.Store.BrokerConfig(c.cfg.Settings, c.cfg.Node).Bool("unclean.leader.election.enable")
}

// firstOf returns the first of replicas, in preference order, that is in
// among and live; -1 when none is.
func firstOf(replicas, among []int32, live func(int32) bool) int32 {
	for _, r := range replicas {
		if slices.Contains(among, r) && live(r) {
			return r
		}
	}
	return -1
}

// change returns the record giving partition i of t a new ISR and leader,
// at the next partition epoch and, with a new leader, the next leader
// epoch.
func change(t meta.Topic, i int, isr []int32, leader int32) meta.PartitionRecord {
	p := t.Assignments[i]
	next := meta.Partition{Replicas: p.Replicas, ISR: slices.Clone(isr), Leader: leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
	if leader != p.Leader {
		next.LeaderEpoch++
	}
	return meta.PartitionRecord{TopicID: t.ID, Index: int32(i), Partition: next}
}

// AlterPartition changes a partition's ISR on its leader's request
// (Kafka's AlterPartition): refused unless leader leads the partition at
// leaderEpoch and partitionEpoch is current, and unless every broker added
// to the ISR is a live replica. It returns the partition epoch the change
// took effect at.
func (c *Controller) AlterPartition(topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	var epoch int32
	_, err := c.proposeLeadership(func(img *meta.Image) ([]meta.Record, error) {
		t, ok := img.Topic(topic)
		if !ok || partition < 0 || partition >= t.Partitions {
			return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, topic, partition)
		}
		p := t.Assignments[partition]
		switch {
		case p.Leader != leader || p.LeaderEpoch != leaderEpoch:
			return nil, fmt.Errorf("%w: %s-%d is led by %d at epoch %d, not %d at %d", ErrFencedLeaderEpoch, topic, partition, p.Leader, p.LeaderEpoch, leader, leaderEpoch)
		case p.PartitionEpoch != partitionEpoch:
			return nil, fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d", ErrInvalidUpdateVersion, topic, partition, p.PartitionEpoch, partitionEpoch)
		case !slices.Contains(isr, leader):
			return nil, fmt.Errorf("%w: the ISR %v of %s-%d leaves out its leader %d", ErrIneligibleReplica, isr, topic, partition, leader)
		}
		for i, r := range isr {
			if !slices.Contains(p.Replicas, r) || slices.Contains(isr[:i], r) {
				return nil, fmt.Errorf("%w: %d is not a replica of %s-%d, or listed twice", ErrIneligibleReplica, r, topic, partition)
			}
			if !slices.Contains(p.ISR, r) && !img.Live(r) {
				return nil, fmt.Errorf("%w: broker %d is fenced", ErrIneligibleReplica, r)
			}
		}
		if slices.Equal(isr, p.ISR) {
			epoch = p.PartitionEpoch
			return nil, nil
		}
		r := change(t, int(partition), isr, leader)
		epoch = r.PartitionEpoch
		return []meta.Record{r}, nil
	})
	return epoch, err
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectLeaders elects leaders of the partitions given, or of every
// partition when nil: a preferred election makes each partition's first
// replica its leader if it is live and in sync; an unclean one gives a
// leaderless partition any live replica (losing what the ISR held beyond
// it). It returns each partition's outcome: nil when elected, else
// ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable,
// ErrEligibleLeadersNotAvailable or ErrUnknownPartition. With every
// partition asked for, only those elected are returned.
func (c *Controller) ElectLeaders(partitions []TopicPartition, unclean bool) (map[TopicPartition]error, error) {
	var out map[TopicPartition]error
	_, err := c.proposeLeadership(func(img *meta.Image) ([]meta.Record, error) {
		out = map[TopicPartition]error{}
		all := partitions == nil
		if all {
			for _, t := range img.Topics() {
				for i := range t.Assignments {
					partitions = append(partitions, TopicPartition{t.Name, int32(i)})
				}
			}
		}
		var records []meta.Record
		for _, tp := range partitions {
			t, ok := img.Topic(tp.Topic)
			if !ok || tp.Partition < 0 || tp.Partition >= t.Partitions {
				out[tp] = ErrUnknownPartition
				continue
			}
			r, err := elect(img, t, int(tp.Partition), unclean)
			if err == nil {
				records = append(records, r)
			}
			if err == nil || !all {
				out[tp] = err
			}
		}
		return records, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func elect(img *meta.Image, t meta.Topic, i int, unclean bool) (meta.PartitionRecord, error) {
	p := t.Assignments[i]
	if unclean {
		if p.Leader != -1 {
			return meta.PartitionRecord{}, ErrElectionNotNeeded
		}
		if leader := firstOf(p.Replicas, p.ISR, img.Live); leader != -1 {
			return change(t, i, p.ISR, leader), nil
		}
		leader := firstOf(p.Replicas, p.Replicas, img.Live)
		if leader == -1 {
			return meta.PartitionRecord{}, ErrEligibleLeadersNotAvailable
		}
		return change(t, i, []int32{leader}, leader), nil
	}
	preferred := p.Replicas[0]
	switch {
	case p.Leader == preferred:
		return meta.PartitionRecord{}, ErrElectionNotNeeded
	case !slices.Contains(p.ISR, preferred) || !img.Live(preferred):
		return meta.PartitionRecord{}, ErrPreferredLeaderNotAvailable
	}
	return change(t, i, p.ISR, preferred), nil
}

// Imbalanced reports whether any partition is led by another broker than
// its preferred one while the preferred one could lead: what
// auto.leader.rebalance.enable corrects.
func Imbalanced(img *meta.Image) bool {
	for _, t := range img.Topics() {
		for i := range t.Assignments {
			if _, err := elect(img, t, i, false); err == nil {
				return true
			}
		}
	}
	return false
}
