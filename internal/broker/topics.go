package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"fmt"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// createTopic records a topic in the metadata store and creates its logs.
func (b *Broker) createTopic(name string, partitions int32, rf int16, configs map[string]string) (meta.Topic, error) {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	if partitions == -1 {
		partitions = int32(b.cfg.Settings.Int("num.partitions"))
	}
	if rf == -1 {
		rf = int16(b.cfg.Settings.Int("default.replication.factor"))
	}
	t, err := b.meta.CreateTopic(name, partitions, rf, configs)
	if err != nil {
		return meta.Topic{}, err
	}
	if err := b.createLogsLocked(t, 0); err != nil {
		b.rollBackCreateLocked(name, err)
		return meta.Topic{}, err
	}
	b.log.Info("topic created", "topic", name, "partitions", partitions, "configs", configs)
	return t, nil
}

// createLogsLocked creates t's partition logs from index from on.
func (b *Broker) createLogsLocked(t meta.Topic, from int32) error {
	lc := meta.ResolveLogConfig(t.Configs, b.settings())
	for p := from; p < t.Partitions; p++ {
		if _, err := b.logs.CreateLog(t.Name, p, lc); err != nil {
			return fmt.Errorf("creating log %s-%d: %w", t.Name, p, err)
		}
	}
	return nil
}

// rollBackCreateLocked undoes a creation whose logs could not all be
// made (a full disk, say), so that an error answer means no topic. If the
// metadata cannot be rolled back either, the topic stays and its missing
// logs are created at the next start.
func (b *Broker) rollBackCreateLocked(name string, cause error) {
	b.log.Error("creating topic failed; rolling back", "topic", name, "err", cause)
	if err := b.logs.DeleteTopic(name); err != nil {
		b.log.Warn("cannot remove logs of a failed topic creation", "topic", name, "err", err)
	}
	if _, err := b.meta.DeleteTopic(name); err != nil {
		b.log.Error("cannot roll back a failed topic creation; its logs are created at the next start", "topic", name, "err", err)
	}
}

// deleteTopic removes a topic from the metadata store and its logs from
// disk. Once the metadata change is durable the topic is deleted: logs
// that cannot be removed now are logged and removed at the next start
// (reconcileLogs), so the answer is a success.
func (b *Broker) deleteTopic(name string) (meta.Topic, error) {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t, err := b.meta.DeleteTopic(name)
	if err != nil {
		return meta.Topic{}, err
	}
	if err := b.logs.DeleteTopic(name); err != nil {
		b.log.Error("cannot remove logs of a deleted topic; they are removed at the next start", "topic", name, "err", err)
	}
	b.log.Info("topic deleted", "topic", name)
	return t, nil
}

// addPartitions grows a topic to total partitions.
func (b *Broker) addPartitions(name string, total int32) error {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t, err := b.meta.CreatePartitions(name, total)
	if err != nil {
		return err
	}
	return b.createLogsLocked(t, 0)
}

// applyTopicConfig pushes a topic's resolved config to its logs; the caller
// holds topicMu.
func (b *Broker) applyTopicConfig(name string) error {
	t, ok := b.meta.Topic(name)
	if !ok {
		return meta.ErrUnknownTopic
	}
	lc := meta.ResolveLogConfig(t.Configs, b.settings())
	for p := int32(0); p < t.Partitions; p++ {
		if l := b.logs.Log(name, p); l != nil {
			l.SetConfig(lc)
		}
	}
	return nil
}

// reconcileLogs makes storage match the metadata store after a start: a
// crash between the two writes of a create or delete leaves them apart.
func (b *Broker) reconcileLogs() error {
	known := map[string]bool{}
	for _, t := range b.meta.Topics() {
		known[t.Name] = true
		if err := b.createLogsLocked(t, 0); err != nil {
			return err
		}
	}
	for _, name := range b.logs.Topics() {
		if !known[name] {
			b.log.Warn("deleting logs of a topic the metadata does not know", "topic", name)
			if err := b.logs.DeleteTopic(name); err != nil {
				return fmt.Errorf("deleting orphan logs of %s: %w", name, err)
			}
		}
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
