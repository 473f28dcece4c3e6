// Package controller turns admin intents (create and delete topics, add
// partitions, change configs, alter SCRAM users) into metadata records: it validates them
// against the current image, chooses what the records carry (topic IDs,
// partition placement) and applies them through the meta.Store. Later it
// proposes the same records to the Raft quorum. It sits above meta and
// below the broker, whose handlers map its errors to Kafka codes.
//
// Log creation stays with the caller, in two steps: Plan* validates and
// returns the records without changing anything, so the broker can create
// the logs first; the matching apply method re-checks against the image
// at apply time and applies.
//
// Concurrency: methods are safe for concurrent use; each change checks
// and applies atomically (meta.Store.Propose). A plan can go stale before
// it is applied: the apply then fails and changes nothing.
package controller

import (
	"errors"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// MaxPartitions bounds one topic's partitions, as KRaft bounds the records of
// one operation: each partition is a directory of open files, and a single
// request must not be able to exhaust the disk or stall the broker.
const MaxPartitions = 10000

// LimitError is a change refused because a broker would hold more
// replicas than max.broker.partitions allows, or the cluster more
// partitions than max.partitions (KIP-578). The handlers answer it with
// POLICY_VIOLATION, or INVALID_PARTITIONS from CreatePartitions.
type LimitError struct {
	Adding, Total, Limit int64
	Broker               int32 // -1: the cluster's limit
}

func (e *LimitError) Error() string {
	if e.Broker < 0 {
		return fmt.Sprintf("creating %d partitions would give the cluster %d, over its limit of %d (max.partitions)",
			e.Adding, e.Total, e.Limit)
	}
	return fmt.Sprintf("creating %d partitions would give broker %d %d replicas, over its limit of %d (max.broker.partitions)",
		e.Adding, e.Broker, e.Total, e.Limit)
}

// Config configures a Controller.
type Config struct {
	Store *meta.Store
	// Node is this node's id: every partition's replica and leader until
	// there are other brokers to place them on.
	Node int32
	// Settings are the broker settings set at start: the defaults of new
	// topics and the partition limits.
	Settings config.BrokerConfig
	// NewID chooses topic IDs; meta.NewID when nil. Tests make it
	// predictable.
	NewID func(taken func([16]byte) bool) [16]byte
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("controller: no metadata store")
	}
	return nil
}

// Controller validates admin intents and applies them as records.
type Controller struct {
	cfg     Config
	live    liveness
	metrics *electionMetrics
}

// New returns a controller for cfg.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NewID == nil {
		cfg.NewID = meta.NewID
	}
	return &Controller{cfg: cfg, metrics: newElectionMetrics()}, nil
}

// AlterTopicConfigs validates a topic's new config overrides, all of them,
// and unless validateOnly replaces the old ones with them.
func (c *Controller) AlterTopicConfigs(name string, overrides map[string]string, validateOnly bool) error {
	if err := config.ValidateTopicConfigs(overrides); err != nil || validateOnly {
		return err
	}
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		if _, ok := img.Topic(name); !ok {
			return nil, fmt.Errorf("%w: %q", meta.ErrUnknownTopic, name)
		}
		return []meta.Record{meta.ConfigRecord{Type: kmsg.ConfigResourceTypeTopic, Name: name, Configs: maps.Clone(overrides)}}, nil
	})
	return err
}

// AlterBrokerConfigs validates the dynamic configs of this broker
// (perBroker) or of the cluster-wide defaults, all of them, and unless
// validateOnly replaces the old ones with them; an empty set removes them.
func (c *Controller) AlterBrokerConfigs(perBroker bool, cfg map[string]string, validateOnly bool) error {
	if err := config.ValidateDynamicBrokerConfigs(cfg); err != nil || validateOnly {
		return err
	}
	return c.setConfigs(meta.BrokerResource(c.cfg.Node, perBroker), cfg)
}

// AlterGroupConfigs validates a group's config overrides against the
// broker's effective settings (its bounds may be set dynamically) and
// unless validateOnly replaces the old ones with them. The group need not
// exist, as in Kafka.
func (c *Controller) AlterGroupConfigs(group string, cfg map[string]string, validateOnly bool) error {
	settings := c.cfg.Store.BrokerConfig(c.cfg.Settings, c.cfg.Node)
	if err := config.ValidateGroupConfigs(cfg, settings); err != nil || validateOnly {
		return err
	}
	return c.setConfigs(meta.ConfigResource{Type: kmsg.ConfigResourceTypeGroupConfig, Name: group}, cfg)
}

func (c *Controller) setConfigs(r meta.ConfigResource, cfg map[string]string) error {
	_, err := c.cfg.Store.Apply(meta.ConfigRecord{Type: r.Type, Name: r.Name, Configs: maps.Clone(cfg)})
	return err
}

// producerIDBlock is how many producer ids one block holds (Kafka: 1000).
const producerIDBlock = 1000

// AllocateProducerIDs hands broker the next block of producer ids,
// [start, end), from the metadata: blocks never overlap across brokers.
// Two brokers asking at once propose the same start; the quorum applies
// one, refuses the other, and the loser asks again.
func (c *Controller) AllocateProducerIDs(broker int32) (start, end int64, err error) {
	for range 10 {
		_, err = c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
			start = img.NextProducerID()
			end = start + producerIDBlock
			return []meta.Record{meta.ProducerIDsRecord{Broker: broker, Start: start, End: end}}, nil
		})
		if !errors.Is(err, meta.ErrStaleProducerIDs) {
			break
		}
	}
	return start, end, err
}
