package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default intervals of the Manager's background work.
const (
	DefaultRetentionCheckInterval = 5 * time.Minute
	DefaultCheckpointInterval     = time.Minute
)

type topicPartition struct {
	topic     string
	partition int32
}

// Manager owns every partition log under one directory.
type Manager struct {
	cfg     Config
	logger  *slog.Logger
	deleter *deleter
	cleaner *cleaner
	now     func() time.Time
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu struct {
		sync.RWMutex
		logs   map[topicPartition]*Log
		closed bool
	}
}

// Validate checks a Config and fills in defaults.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("storage: config: Dir is required")
	}
	if c.Logger == nil {
		return errors.New("storage: config: Logger is required")
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CleanerThreads == 0 {
		c.CleanerThreads = DefaultCleanerThreads
	}
	if c.CleanerBackoff <= 0 {
		c.CleanerBackoff = DefaultCleanerBackoff
	}
	if c.CleanerDedupeBufferSize <= 0 {
		c.CleanerDedupeBufferSize = DefaultCleanerDedupeBufferSize
	}
	if c.VerifyBytesPerSecond == 0 {
		c.VerifyBytesPerSecond = DefaultVerifyBytesPerSecond
	}
	if c.LogConfig == nil {
		c.LogConfig = func(string) LogConfig { return DefaultLogConfig() }
	}
	return nil
}

// Open scans cfg.Dir, recovers every log found and starts the background
// retention and checkpoint goroutine, the log cleaner threads and the
// background verifier. Logs found on disk get cfg.LogConfig(topic) until
// CreateLog or SetConfig applies their real config.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create data dir: %w", err)
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, deleter: newDeleter(cfg.Logger), now: cfg.Now}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.logs = map[topicPartition]*Log{}
	m.cleaner = newCleaner(m)
	if err := m.openAll(ctx); err != nil {
		m.Close()
		return nil, err
	}
	m.wg.Add(1)
	go m.background()
	m.cleaner.start()
	if cfg.VerifyBytesPerSecond > 0 {
		m.wg.Add(1)
		go m.verifyInBackground(m.ctx, cfg.VerifyBytesPerSecond)
	}
	return m, nil
}

func (m *Manager) openAll(ctx context.Context) error {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("storage: read data dir: %w", err)
	}
	for _, e := range ents {
		tp, ok := parsePartitionDir(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := openLog(m, tp.topic, tp.partition, m.cfg.LogConfig(tp.topic))
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		m.mu.logs[tp] = l
	}
	m.logger.Info("storage opened", "dir", m.cfg.Dir, "logs", len(m.mu.logs))
	return nil
}

// parsePartitionDir splits "<topic>-<partition>".
func parsePartitionDir(name string) (topicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return topicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.Itoa(int(p)) != name[i+1:] {
		return topicPartition{}, false
	}
	return topicPartition{name[:i], int32(p)}, true
}

// CreateLog returns the log of topic/partition, creating it if needed, with
// lc applied.
func (m *Manager) CreateLog(topic string, partition int32, lc LogConfig) (*Log, error) {
	if topic == "" || partition < 0 || strings.ContainsAny(topic, "/\\\x00") || topic == "." || topic == ".." {
		return nil, fmt.Errorf("storage: invalid partition %q-%d", topic, partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	tp := topicPartition{topic, partition}
	if l, ok := m.mu.logs[tp]; ok {
		l.SetConfig(lc)
		return l, nil
	}
	l, err := openLog(m, topic, partition, lc) // creating is rare; holding mu keeps it idempotent
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	m.mu.logs[tp] = l
	return l, nil
}

// Log returns the log of topic/partition, or nil.
func (m *Manager) Log(topic string, partition int32) *Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.mu.logs[topicPartition{topic, partition}]
}

// Partitions returns the partitions of topic that have a log, sorted.
func (m *Manager) Partitions(topic string) []int32 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var ps []int32
	for tp := range m.mu.logs {
		if tp.topic == topic {
			ps = append(ps, tp.partition)
		}
	}
	slices.Sort(ps)
	return ps
}

// Topics returns the names of the topics that have at least one log, sorted.
func (m *Manager) Topics() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	seen := map[string]bool{}
	var names []string
	for tp := range m.mu.logs {
		if !seen[tp.topic] {
			seen[tp.topic] = true
			names = append(names, tp.topic)
		}
	}
	slices.Sort(names)
	return names
}

// DeleteTopic closes and removes every log of topic. Appends in flight fail
// with ErrLogDeleted; Chunks already returned stay readable for
// file.delete.delay.ms.
func (m *Manager) DeleteTopic(topic string) error {
	m.mu.Lock()
	var logs []*Log
	for tp, l := range m.mu.logs {
		if tp.topic == topic {
			logs = append(logs, l)
			delete(m.mu.logs, tp)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, l := range logs {
		// adminMu keeps a checkpoint, retention or DeleteRecords that
		// already holds this Log from writing into its directory while
		// (or after) it is removed, which could land in the directory of
		// a topic re-created under the same name.
		l.adminMu.Lock()
		l.close(ErrLogDeleted)
		l.mu.Lock()
		segs, delay := l.mu.segments, l.mu.cfg.FileDeleteDelayMs
		l.mu.segments = nil
		l.mu.Unlock()
		for _, s := range segs {
			s.removed.Store(true)
		}
		errs = append(errs, removeDir(l.dir))
		l.adminMu.Unlock()
		m.deleter.schedule(segs, time.Duration(delay)*time.Millisecond)
		l.logger.Info("deleted log")
	}
	return errors.Join(errs...)
}

// Close stops background work, flushes every log, writes clean-shutdown
// checkpoints and closes all files.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	logs := m.mu.logs
	m.mu.logs = map[topicPartition]*Log{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.close(ErrClosed))
	}
	m.deleter.close()
	return errors.Join(errs...)
}

func (m *Manager) background() {
	defer m.wg.Done()
	retention := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	checkpoints := time.NewTicker(m.cfg.CheckpointInterval)
	defer checkpoints.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-retention.C:
			m.runRetention(m.ctx)
		case <-checkpoints.C:
			m.checkpointAll()
		}
	}
}

func (m *Manager) logs() []*Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ls := make([]*Log, 0, len(m.mu.logs))
	for _, l := range m.mu.logs {
		ls = append(ls, l)
	}
	return ls
}

// MaxProducerID returns the largest producer ID whose state any log
// recovered when it was opened, or -1. The producer ID allocator starts above
// it, so a lost allocator file cannot reissue an ID a log still tracks.
func (m *Manager) MaxProducerID() int64 {
	id := int64(-1)
	for _, l := range m.logs() {
		id = max(id, l.openMaxProducerID)
	}
	return id
}

// runRetention applies retention to every log once.
func (m *Manager) runRetention(ctx context.Context) {
	for _, l := range m.logs() {
		if err := l.enforceRetention(ctx, m.now()); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrLogDeleted) {
			l.logger.Error("retention failed", "err", err)
		}
	}
}

// checkpointAll persists every log's recovery point.
func (m *Manager) checkpointAll() {
	for _, l := range m.logs() {
		if err := l.checkpointIfOpen(); err != nil {
			l.logger.Error("checkpoint failed", "err", err)
		}
	}
}
