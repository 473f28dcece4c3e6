package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	files   *fileCache
	deleter *deleter
	cleaner *cleaner
	// collectors are the series registered on cfg.Registerer, taken off
	// it at Close so that a registry outlives a Manager reopened on it.
	collectors []prometheus.Collector
	now        func() time.Time
	ctx        context.Context // canceled by Close
	cancel     context.CancelFunc
	wg         sync.WaitGroup

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
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = DefaultMaxOpenFiles()
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
	if cfg.Keys == nil && !cfg.plain {
		cfg.Keys = testKeys
	}
	// Before recovery writes anything: a wrong or missing key leaves the
	// directory as it was.
	if err := prepareKeys(cfg.Dir, cfg.Keys); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, files: newFileCache(cfg.MaxOpenFiles), deleter: newDeleter(cfg.Logger), now: cfg.Now}
	m.files.keys = cfg.Keys
	fsync := newFsyncHistogram()
	m.files.fsync = fsync
	if cfg.Keys != nil {
		m.logger.Info("encryption at rest on", "key_id", cfg.Keys.Primary().String(), "keys", len(cfg.Keys.IDs()))
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.logs = map[topicPartition]*Log{}
	m.cleaner = newCleaner(m)
	if err := m.registerMetrics(fsync); err != nil {
		m.Close()
		return nil, fmt.Errorf("storage: registering metrics: %w", err)
	}
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
	var tps []topicPartition
	for _, e := range ents {
		if tp, ok := parsePartitionDir(e.Name()); e.IsDir() && ok {
			tps = append(tps, tp)
		}
	}
	// Logs open side by side: a clean one only reads, and the fsyncs of
	// those an unclean shutdown left to recover overlap.
	logs := make([]*Log, len(tps))
	errs := make([]error, len(tps))
	forEach(len(tps), closeWorkers, func(i int) {
		if errs[i] = ctx.Err(); errs[i] == nil {
			logs[i], errs[i] = openLog(m, tps[i].topic, tps[i].partition, m.cfg.LogConfig(tps[i].topic))
		}
	})
	var first error
	for i, l := range logs {
		if l != nil {
			m.mu.logs[tps[i]] = l // Close closes them on failure
		} else if first == nil {
			first = errs[i]
		}
	}
	if first != nil {
		return fmt.Errorf("storage: %w", first)
	}
	m.logger.Info("storage opened", "dir", m.cfg.Dir, "logs", len(m.mu.logs), "max_open_files", m.files.limit)
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
	if l := m.Log(topic, partition); l != nil {
		l.SetConfig(lc)
		return l, nil
	}
	n, err := m.CreateLogs(topic, partition, partition+1, lc)
	if err != nil {
		return nil, err
	}
	if err := n.Publish(); err != nil {
		return nil, err
	}
	return n.logs[0], nil
}

// NewLogs are logs that CreateLogs made and nobody sees yet.
type NewLogs struct {
	m     *Manager
	topic string
	logs  []*Log
}

// CreateLogs creates the logs of partitions [from, to) of topic, makes them
// durable with one sync of the filesystem and returns them unpublished:
// Log, Partitions and Topics see them only after Publish, and Discard
// removes them. On an error nothing is left behind. The caller serialises
// topic changes: none of the partitions may have a log yet.
func (m *Manager) CreateLogs(topic string, from, to int32, lc LogConfig) (*NewLogs, error) {
	if topic == "" || from < 0 || strings.ContainsAny(topic, "/\\\x00") || topic == "." || topic == ".." {
		return nil, fmt.Errorf("storage: invalid partition %q-%d", topic, from)
	}
	m.mu.RLock()
	closed := m.mu.closed
	for p := from; p < to && !closed; p++ {
		if _, ok := m.mu.logs[topicPartition{topic, p}]; ok {
			m.mu.RUnlock()
			return nil, fmt.Errorf("storage: log %s exists", partitionDirName(topic, p))
		}
	}
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	n := &NewLogs{m: m, topic: topic}
	for p := from; p < to; p++ {
		if m.ctx.Err() != nil {
			return nil, errors.Join(ErrClosed, n.Discard())
		}
		l, err := createNewLog(m, topic, p, lc)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%w: %w", ErrStorage, err), n.Discard())
		}
		n.logs = append(n.logs, l)
	}
	start := time.Now()
	err := syncFS(m.cfg.Dir)
	m.files.observeSince(start)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: creating logs of %s: %w", ErrStorage, topic, err), n.Discard())
	}
	return n, nil
}

// Publish makes the logs visible.
func (n *NewLogs) Publish() error {
	m := n.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	for _, l := range n.logs {
		m.mu.logs[topicPartition{l.topic, l.partition}] = l
	}
	return nil
}

// Discard removes the logs from disk.
func (n *NewLogs) Discard() error {
	var errs []error
	for _, l := range n.logs {
		l.closeFiles()
		errs = append(errs, removeDir(l.dir))
	}
	n.logs = nil
	return errors.Join(errs...)
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
// with ErrLogDeleted; Chunks already returned stay readable until released.
func (m *Manager) DeleteTopic(topic string) error {
	return m.deleteLogs(func(tp topicPartition) bool { return tp.topic == topic })
}

// DeletePartitions closes and removes the logs of topic's partitions from
// from on, as DeleteTopic does.
func (m *Manager) DeletePartitions(topic string, from int32) error {
	return m.deleteLogs(func(tp topicPartition) bool { return tp.topic == topic && tp.partition >= from })
}

func (m *Manager) deleteLogs(match func(topicPartition) bool) error {
	m.mu.Lock()
	var logs []*Log
	for tp, l := range m.mu.logs {
		if match(tp) {
			logs = append(logs, l)
			delete(m.mu.logs, tp)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.delete())
	}
	return errors.Join(errs...)
}

// delete closes the log and removes its directory. Its files close now,
// or at the release of the last Chunk that pins one.
func (l *Log) delete() error {
	// adminMu keeps a checkpoint, retention or DeleteRecords that already
	// holds this Log from writing into its directory while (or after) it
	// is removed, which could land in the directory of a topic re-created
	// under the same name.
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.close(ErrLogDeleted)
	l.mu.Lock()
	segs := l.mu.segments
	l.mu.segments = nil
	l.mu.Unlock()
	for _, s := range segs {
		s.removed.Store(true)
		s.close()
	}
	err := removeDir(l.dir)
	l.logger.Info("deleted log")
	return err
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
	for _, c := range m.collectors {
		m.cfg.Registerer.Unregister(c)
	}
	logs := m.mu.logs
	m.mu.logs = map[topicPartition]*Log{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	ls := slices.Collect(maps.Values(logs))
	errs := make([]error, len(ls))
	forEach(len(ls), closeWorkers, func(i int) { errs[i] = ls[i].close(ErrClosed) })
	m.deleter.close()
	return errors.Join(errs...)
}

// closeWorkers bounds the logs opened or closed at once: their fsyncs
// overlap (the filesystem commits them together) instead of queueing one
// behind another.
const closeWorkers = 16

// forEach runs fn(0..n-1) on at most workers goroutines and waits for them.
func forEach(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
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
