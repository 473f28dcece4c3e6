package controller

import (
	"fmt"
	"maps"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// NewTopic is a request to create a topic. Partitions and
// ReplicationFactor -1 take the broker's defaults (num.partitions,
// default.replication.factor).
type NewTopic struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
	// Assignment, if set, places the partitions by hand: the replicas of
	// each, the preferred leader first; Partitions and ReplicationFactor
	// then follow from it.
	Assignment [][]int32
}

// PlanTopic checks a creation against the current image and returns the
// record that performs it, with the topic's ID chosen and its partitions
// placed; it changes nothing (CreateTopics validate_only stops here).
func (c *Controller) PlanTopic(nt NewTopic) (meta.TopicRecord, error) {
	if nt.Partitions == -1 {
		nt.Partitions = int32(c.cfg.Settings.Int("num.partitions"))
	}
	img := c.cfg.Store.Image()
	nt.ReplicationFactor = c.replicationFactor(img, nt.ReplicationFactor)
	if nt.Assignment != nil {
		nt.Partitions = int32(len(nt.Assignment))
		if len(nt.Assignment) > 0 {
			nt.ReplicationFactor = int16(len(nt.Assignment[0]))
		}
	}
	if err := validateNewTopic(nt); err != nil {
		return meta.TopicRecord{}, err
	}
	placed, err := c.placeOrAssign(img, nt.Name, 0, nt.Partitions, nt.ReplicationFactor, nt.Assignment)
	if err != nil {
		return meta.TopicRecord{}, err
	}
	if err := c.checkNewTopic(img, nt.Name, placed); err != nil {
		return meta.TopicRecord{}, err
	}
	return meta.TopicRecord{ID: c.cfg.NewID(img.HasTopicID), Name: nt.Name, ReplicationFactor: nt.ReplicationFactor,
		Internal: meta.IsInternalTopic(nt.Name), Configs: maps.Clone(nt.Configs), Partitions: placed}, nil
}

// CreateTopic applies a record PlanTopic returned, checking again that the
// name is free and the partitions fit, since the image may have changed.
func (c *Controller) CreateTopic(r meta.TopicRecord) (meta.Topic, error) {
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		if img.HasTopicID(r.ID) {
			return nil, fmt.Errorf("%w: topic id %s", meta.ErrInvalidRecord, meta.FormatID(r.ID))
		}
		return []meta.Record{r}, c.checkNewTopic(img, r.Name, r.Partitions)
	})
	if err != nil {
		return meta.Topic{}, err
	}
	return r.Topic(), nil
}

func validateNewTopic(nt NewTopic) error {
	if err := meta.ValidateTopicName(nt.Name); err != nil {
		return err
	}
	if nt.Partitions < 1 || nt.Partitions > MaxPartitions {
		return fmt.Errorf("%w: %d, must be 1 to %d", meta.ErrInvalidPartitions, nt.Partitions, MaxPartitions)
	}
	if nt.ReplicationFactor < 1 {
		return fmt.Errorf("%w: %d, must be at least 1", meta.ErrInvalidReplicationFactor, nt.ReplicationFactor)
	}
	return config.ValidateTopicConfigs(nt.Configs)
}

// checkNewTopic checks that a topic called name may be created in img
// with the partitions placed.
func (c *Controller) checkNewTopic(img *meta.Image, name string, placed []meta.Partition) error {
	if _, ok := img.Topic(name); ok {
		return fmt.Errorf("%w: %q", meta.ErrTopicExists, name)
	}
	if other, ok := img.Collision(name); ok {
		return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", meta.ErrInvalidTopic, name, other)
	}
	return c.checkLimit(img, placed)
}

// DeleteTopic removes a topic and returns what it was.
func (c *Controller) DeleteTopic(name string) (meta.Topic, error) {
	var t meta.Topic
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		var ok bool
		if t, ok = img.Topic(name); !ok {
			return nil, fmt.Errorf("%w: %q", meta.ErrUnknownTopic, name)
		}
		return []meta.Record{meta.RemoveTopicRecord{ID: t.ID}}, nil
	})
	if err != nil {
		return meta.Topic{}, err
	}
	return t, nil
}

// ValidatePartitionGrowth checks that t may grow to total partitions.
func ValidatePartitionGrowth(t meta.Topic, total int32) error {
	if total <= t.Partitions {
		return fmt.Errorf("%w: topic %q has %d partitions, asked for %d; the count can only grow",
			meta.ErrInvalidPartitions, t.Name, t.Partitions, total)
	}
	if total > MaxPartitions {
		return fmt.Errorf("%w: %d, at most %d", meta.ErrInvalidPartitions, total, MaxPartitions)
	}
	return nil
}

// PlanPartitions checks growing topic name to total partitions and
// returns the topic as it is and the records adding the partitions,
// placed (by hand when assignment is set: one list of replicas per new
// partition); it changes nothing.
func (c *Controller) PlanPartitions(name string, total int32, assignment [][]int32) (meta.Topic, []meta.Record, error) {
	img := c.cfg.Store.Image()
	t, ok := img.Topic(name)
	if !ok {
		return meta.Topic{}, nil, fmt.Errorf("%w: %s", meta.ErrUnknownTopic, name)
	}
	if err := ValidatePartitionGrowth(t, total); err != nil {
		return meta.Topic{}, nil, err
	}
	// New partitions get as many replicas as the topic's first has.
	if assignment != nil && len(assignment) != int(total-t.Partitions) {
		return meta.Topic{}, nil, fmt.Errorf("%w: %d assignments for %d new partitions", meta.ErrInvalidReplicaAssignment, len(assignment), total-t.Partitions)
	}
	placed, err := c.placeOrAssign(img, name, t.Partitions, total-t.Partitions, int16(len(t.Assignments[0].Replicas)), assignment)
	if err != nil {
		return meta.Topic{}, nil, err
	}
	if err := c.checkLimit(img, placed); err != nil {
		return meta.Topic{}, nil, err
	}
	var records []meta.Record
	for i, p := range placed {
		records = append(records, meta.PartitionRecord{TopicID: t.ID, Index: t.Partitions + int32(i), Partition: p})
	}
	return t, records, nil
}

// AddPartitions applies the records PlanPartitions returned, checking
// again that they add partitions after the topic's last and that the
// partition limit holds: a plan that went stale (the topic changed since)
// fails and changes nothing.
func (c *Controller) AddPartitions(records []meta.Record) error {
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		next := map[[16]byte]int32{} // each topic's next partition
		var placed []meta.Partition
		for _, r := range records {
			pr, ok := r.(meta.PartitionRecord)
			if !ok {
				return nil, fmt.Errorf("%w: %T adds no partition", meta.ErrInvalidRecord, r)
			}
			if _, seen := next[pr.TopicID]; !seen {
				t, ok := img.TopicByID(pr.TopicID)
				if !ok {
					return nil, fmt.Errorf("%w: id %s", meta.ErrUnknownTopic, meta.FormatID(pr.TopicID))
				}
				next[pr.TopicID] = t.Partitions
			}
			if pr.Index != next[pr.TopicID] {
				return nil, fmt.Errorf("%w: the plan adds partition %d, the topic's next is %d",
					meta.ErrInvalidPartitions, pr.Index, next[pr.TopicID])
			}
			next[pr.TopicID]++
			placed = append(placed, pr.Partition)
		}
		return records, c.checkLimit(img, placed)
	})
	return err
}
