package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// maxPartitionsPerRequest bounds the partitions one request may create, as
// Kafka's controller bounds them (KAFKA-17870): a single request must not
// be able to stall the node creating files.
const maxPartitionsPerRequest = 10000

// createTopic creates a topic all or nothing: its logs first, made durable
// and not yet visible, then the metadata record that makes the topic exist.
// A failure removes the logs just created; a crash in between leaves logs
// the metadata does not know, which reconcileLogs removes at start.
func (b *Broker) createTopic(spec topicSpec) (meta.Topic, error) {
	name, configs := spec.name, spec.configs
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	rec, err := b.planTopic(spec)
	if err != nil {
		return meta.Topic{}, err
	}
	t := rec.Topic()
	if b.cfg.Clustered {
		if t, err = b.ctrl.CreateTopic(rec); err != nil {
			return meta.Topic{}, limitCode(err, kerr.PolicyViolation)
		}
		b.log.Info("topic created", "topic", name, "partitions", t.Partitions, "configs", configs)
		return t, nil
	}
	logs, err := b.logs.CreateLogs(name, 0, t.Partitions, config.ResolveLogConfig(t.Configs, b.settings()))
	if err != nil {
		return meta.Topic{}, fmt.Errorf("creating logs of %s: %w", name, err)
	}
	if t, err = b.ctrl.CreateTopic(rec); err != nil {
		b.discardLogs(name, logs)
		return meta.Topic{}, limitCode(err, kerr.PolicyViolation)
	}
	if err := logs.Publish(); err != nil {
		return meta.Topic{}, err // closing: the next start finds the logs
	}
	b.leadNew(name, 0, t.Partitions)
	b.log.Info("topic created", "topic", name, "partitions", t.Partitions, "configs", configs)
	return t, nil
}

// planTopic has the controller check a creation against the current
// image and choose the topic's ID and placement.
// topicSpec is a topic to create: counts (-1 for the defaults), or a
// manual assignment of each partition's replicas.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
	configs    map[string]string
	assignment [][]int32
}

func (b *Broker) planTopic(spec topicSpec) (meta.TopicRecord, error) {
	rec, err := b.ctrl.PlanTopic(controller.NewTopic{Name: spec.name, Partitions: spec.partitions, ReplicationFactor: spec.rf,
		Configs: spec.configs, Assignment: spec.assignment})
	return rec, limitCode(err, kerr.PolicyViolation)
}

// limitCode gives a partition-limit refusal (KIP-578) the code its API
// answers: POLICY_VIOLATION, or INVALID_PARTITIONS for CreatePartitions.
func limitCode(err error, code *kerr.Error) error {
	var le *controller.LimitError
	if errors.As(err, &le) {
		return fmt.Errorf("%w: %w", code, err)
	}
	return err
}

// checkRequestPartitions refuses a request that creates more than
// maxPartitionsPerRequest partitions in all.
func checkRequestPartitions(total int64) error {
	if total > maxPartitionsPerRequest {
		return fmt.Errorf("%w: excessively large number of partitions per request: %d requested, at most %d",
			kerr.PolicyViolation, total, maxPartitionsPerRequest)
	}
	return nil
}

// autoCreate is what one request may still create by auto-creation.
type autoCreate struct{ left int64 }

// autoCreateTopic creates a topic a Metadata request names, within the
// request's share of maxPartitionsPerRequest.
func (b *Broker) autoCreateTopic(name string, auto *autoCreate) (meta.Topic, error) {
	n := b.cfg.Settings.Int("num.partitions")
	if err := checkRequestPartitions(maxPartitionsPerRequest - auto.left + n); err != nil {
		return meta.Topic{}, err
	}
	t, err := b.createTopic(topicSpec{name: name, partitions: -1, rf: -1})
	if err == nil {
		auto.left -= n
	}
	return t, err
}

// discardLogs removes logs created for a change that failed; what cannot
// be removed now reconcileLogs removes at the next start.
func (b *Broker) discardLogs(name string, logs *storage.NewLogs) {
	if err := logs.Discard(); err != nil {
		b.log.Error("removing the logs of a failed topic change", "topic", name, "err", err)
	}
}

// deleteTopic removes a topic from the metadata store and its logs from
// disk. Once the metadata change is durable the topic is deleted: logs
// that cannot be removed now are logged and removed at the next start
// (reconcileLogs), so the answer is a success.
func (b *Broker) deleteTopic(name string) (meta.Topic, error) {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t, err := b.ctrl.DeleteTopic(name)
	if err != nil || b.cfg.Clustered {
		return t, err
	}
	b.replicas.RemoveTopic(name)
	if err := b.logs.DeleteTopic(name); err != nil {
		b.log.Error("cannot remove logs of a deleted topic; they are removed at the next start", "topic", name, "err", err)
	}
	b.log.Info("topic deleted", "topic", name)
	b.metrics.dropTopic(name)
	return t, nil
}

// addPartitions grows a topic to total partitions, all or nothing as
// createTopic creates one. validateOnly checks without creating.
func (b *Broker) addPartitions(name string, total int32, assignment [][]int32, validateOnly bool) error {
	if validateOnly {
		// A check changes nothing, so it need not wait behind a creation
		// of thousands of logs holding topicMu.
		_, _, err := b.planPartitions(name, total, assignment)
		return err
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t, records, err := b.planPartitions(name, total, assignment)
	if err != nil {
		return err
	}
	if b.cfg.Clustered {
		return limitCode(b.ctrl.AddPartitions(records), kerr.InvalidPartitions)
	}
	logs, err := b.logs.CreateLogs(name, t.Partitions, total, config.ResolveLogConfig(t.Configs, b.settings()))
	if err != nil {
		return fmt.Errorf("creating logs of %s: %w", name, err)
	}
	if err := b.ctrl.AddPartitions(records); err != nil {
		b.discardLogs(name, logs)
		return limitCode(err, kerr.InvalidPartitions)
	}
	if err := logs.Publish(); err != nil {
		return err
	}
	b.leadNew(name, t.Partitions, total)
	b.log.Info("partitions created", "topic", name, "partitions", total)
	return nil
}

// planPartitions has the controller check growing a topic and place the
// new partitions.
func (b *Broker) planPartitions(name string, total int32, assignment [][]int32) (meta.Topic, []meta.Record, error) {
	if t, ok := b.meta.Topic(name); ok && t.Internal {
		// Groups hash onto __consumer_offsets by its partition count:
		// growing it would strand every group's state in its old partition.
		return meta.Topic{}, nil, fmt.Errorf("%w: %s is internal to the broker; its partition count is fixed", kerr.InvalidTopicException, name)
	}
	t, records, err := b.ctrl.PlanPartitions(name, total, assignment)
	return t, records, limitCode(err, kerr.InvalidPartitions)
}

// applyTopicConfig pushes a topic's resolved config to its logs; the caller
// holds topicMu.
func (b *Broker) applyTopicConfig(name string) error {
	t, ok := b.meta.Topic(name)
	if !ok {
		return meta.ErrUnknownTopic
	}
	lc := config.ResolveLogConfig(t.Configs, b.settings())
	for p := int32(0); p < t.Partitions; p++ {
		if l := b.logs.Log(name, p); l != nil {
			l.SetConfig(lc)
		}
	}
	return nil
}

// reconcileLogs makes storage match the metadata store after a start: a
// crash in a create or delete leaves logs the metadata does not know (they
// go), and a lost directory leaves a partition without a log (it is
// created empty).
func (b *Broker) reconcileLogs() error {
	known := map[string]int32{}
	for _, t := range b.meta.Topics() {
		known[t.Name] = t.Partitions
		if err := b.ensureLogs(t); err != nil {
			return err
		}
	}
	for _, name := range b.logs.Topics() {
		n, ok := known[name]
		ps := b.logs.Partitions(name)
		switch {
		case !ok:
			b.log.Warn("deleting logs of a topic the metadata does not know", "topic", name)
			if err := b.logs.DeleteTopic(name); err != nil {
				return fmt.Errorf("deleting orphan logs of %s: %w", name, err)
			}
		case ps[len(ps)-1] >= n:
			b.log.Warn("deleting logs of partitions the metadata does not know", "topic", name, "partitions", n)
			if err := b.logs.DeletePartitions(name, n); err != nil {
				return fmt.Errorf("deleting orphan logs of %s: %w", name, err)
			}
		}
	}
	return nil
}

// ensureLogs applies t's config to its logs and creates the missing ones.
func (b *Broker) ensureLogs(t meta.Topic) error {
	lc := config.ResolveLogConfig(t.Configs, b.settings())
	for p := int32(0); p < t.Partitions; p++ {
		if l := b.logs.Log(t.Name, p); l != nil {
			l.SetConfig(lc)
			continue
		}
		end := p + 1
		for end < t.Partitions && b.logs.Log(t.Name, end) == nil {
			end++
		}
		b.log.Warn("creating missing logs", "topic", t.Name, "from", p, "to", end)
		logs, err := b.logs.CreateLogs(t.Name, p, end, lc)
		if err == nil {
			err = logs.Publish()
		}
		if err != nil {
			return fmt.Errorf("creating logs of %s: %w", t.Name, err)
		}
		p = end - 1
	}
	return nil
}

// resolveTopic names the topic a request refers to: by ID from the
// versions that use topic IDs, else by the name given.
func (b *Broker) resolveTopic(name string, id [16]byte, byID bool) (string, *kerr.Error) {
	if !byID {
		return name, nil
	}
	t, ok := b.meta.TopicByID(id)
	if !ok {
		return "", kerr.UnknownTopicID
	}
	return t.Name, nil
}
