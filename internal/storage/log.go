package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Log is one partition's log. See the package comment for its concurrency
// contract.
type Log struct {
	topic     string
	partition int32
	dir       string
	logger    *slog.Logger
	m         *Manager

	// adminMu serializes retention, DeleteRecords and the cleaner's
	// segment swaps, which change closed segments; it is never taken by
	// appends or reads.
	adminMu sync.Mutex
	// offlineMu serialises taking the log offline (verify.go).
	offlineMu sync.Mutex

	// uncleanable is set when cleaning failed; the cleaner skips the log
	// until it is reopened.
	uncleanable atomic.Bool
	// untrusted holds the bases of segments whose interrupted swap was
	// completed on open; recovery re-validates them. Used only by open.
	untrusted map[int64]bool

	q struct {
		sync.Mutex
		wake    chan struct{} // capacity 1: new work or closing
		pending []*appendReq
		running bool  // a writer goroutine is live
		closed  error // ErrClosed or ErrLogDeleted once closing
	}
	writers sync.WaitGroup

	mu struct {
		sync.RWMutex
		cfg           LogConfig
		segments      []*segment // copy-on-write; the last one is active
		logStart      int64
		logEnd        int64
		recoveryPoint int64        // every offset below it is fsynced
		cleanedTo     int64        // first dirty offset: the cleaner compacted everything below
		hw            int64        // high watermark set by SetHighWatermark; see hwLocked
		epochs        epochList    // leader-epoch cache; replaced, never changed in place
		txns          unstableTxns // transactions holding the last stable offset back
		truncations   uint64       // counts TruncateTo's steps; see truncatedSince
		changed       chan struct{}
		err           error     // write failure refusing appends
		retryAt       time.Time // when a disk-full err may be retried; zero: err is sticky
		offline       error     // set once when a stored batch fails its checks; see Offline
	}

	w writerState // owned by the writer goroutine

	// openMaxProducerID is the largest producer ID of the state recovered
	// at open (-1: none); set before the log is shared, read-only after.
	openMaxProducerID int64

	// ckpt serialises writes of the checkpoint file (the writer's first
	// write, checkpoints, retention, close) and remembers the last one, so
	// that an unchanged checkpoint is not rewritten and a log not changed
	// since a clean open needs nothing at close. Held across the write.
	ckpt struct {
		sync.Mutex
		last checkpoint
		hw   int64 // last high watermark written, -1 if none
	}
}

func partitionDirName(topic string, partition int32) string {
	return fmt.Sprintf("%s-%d", topic, partition)
}

func newLog(m *Manager, topic string, partition int32, cfg LogConfig) *Log {
	l := &Log{topic: topic, partition: partition, m: m,
		dir:    filepath.Join(m.cfg.Dir, partitionDirName(topic, partition)),
		logger: m.logger.With("topic", topic, "partition", partition)}
	l.mu.cfg = cfg
	l.mu.changed = make(chan struct{})
	l.q.wake = make(chan struct{}, 1)
	l.ckpt.hw = -1
	return l
}

// openLog opens (creating if needed) the log in dir and recovers it.
func openLog(m *Manager, topic string, partition int32, cfg LogConfig) (*Log, error) {
	l := newLog(m, topic, partition, cfg)
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	if err := l.recoverAll(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("open log %s: %w", partitionDirName(topic, partition), err)
	}
	// Opening reads every log; keeping their files would fill the cache
	// with logs that may stay idle.
	for _, s := range l.mu.segments {
		for _, sf := range s.files() {
			sf.evict()
		}
	}
	return l, nil
}

// createNewLog creates the files of a new, empty log, clean, without fsyncing
// them: CreateLogs syncs the filesystem once for all the logs it creates.
// A directory left from before is opened and recovered instead.
func createNewLog(m *Manager, topic string, partition int32, cfg LogConfig) (*Log, error) {
	l := newLog(m, topic, partition, cfg)
	if err := os.Mkdir(l.dir, 0o755); errors.Is(err, fs.ErrExist) {
		return openLog(m, topic, partition, cfg)
	} else if err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	s := newSegment(m.files, l.dir, 0, "")
	// Each file created costs a metadata write: the index files wait for
	// their first entry, and read as empty until then.
	s.idx.create, s.tidx.create = true, true
	cp := checkpoint{clean: true}
	f, err := m.files.open(s.log.Name(), os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(l.dir, checkpointFile), cp.encode(), 0o644)
	}
	if err != nil {
		_ = removeDir(l.dir)
		return nil, fmt.Errorf("create log %s: %w", partitionDirName(topic, partition), err)
	}
	l.ckpt.last = cp
	l.mu.segments = []*segment{s}
	l.w.producers = producers{}
	return l, nil
}

func (l *Log) recoverAll() error {
	var err error
	if l.untrusted, err = recoverSwaps(l.dir, l.logger); err != nil {
		return err
	}
	if err := removeLeftovers(l.dir, l.logger); err != nil {
		return err
	}
	l.mu.cleanedTo = l.readCleanedTo()
	cp, cperr := readCheckpoint(l.dir)
	if cperr != nil && !errors.Is(cperr, os.ErrNotExist) {
		l.logger.Warn("ignoring unreadable checkpoint", "err", cperr)
	}
	if err := l.findMissingIndexes(); err != nil {
		return err
	}
	segs, err := l.openSegments(cp.logStart)
	if err != nil {
		return err
	}
	l.mu.segments = segs // closeFiles on failure needs them
	swapped := len(l.untrusted) > 0
	loaded, err := l.loadSegments(segs, cp, l.mu.cfg.IndexIntervalBytes)
	if err != nil {
		return l.openOffline(segs, cp, err)
	}
	segs = loaded
	l.mu.segments = segs
	end := segs[len(segs)-1].st.next
	l.mu.logEnd = end
	l.mu.logStart = min(max(cp.logStart, segs[0].base), end)
	if cperr == nil && !cp.clean {
		l.logger.Info("recovered log after unclean shutdown", "log_start_offset", l.mu.logStart, "log_end_offset", end)
	}
	l.untrusted = nil
	if l.mu.cleanedTo > end {
		// Left by a TruncateTo that did not lower it (before it did, or a
		// crash losing the tail): batches appended from end on would
		// otherwise count as cleaned.
		l.logger.Warn("lowering the cleaner checkpoint to the log end", "cleaned_to", l.mu.cleanedTo, "log_end_offset", end)
		if err := l.lowerCleanedTo(end); err != nil {
			return err
		}
	}
	l.mu.hw = l.loadHighWatermark(l.mu.logStart, end)
	if err := l.loadProducers(segs, end); err != nil {
		return l.openOffline(segs, cp, err)
	}
	if l.mu.epochs, err = l.loadEpochs(segs, l.mu.logStart, end, lastBatchEpoch(segs)); err != nil {
		return l.openOffline(segs, cp, err)
	}
	l.mu.recoveryPoint = end
	if cperr == nil && cp.clean && !swapped && cp.recoveryPoint == end && cp.logStart == l.mu.logStart {
		// Unchanged since a clean close: the checkpoint stays clean until
		// the log first changes (markUnclean), so a restart reads only.
		l.ckpt.last = cp
		return nil
	}
	if err := segs[len(segs)-1].sync(); err != nil {
		return err
	}
	return l.saveCheckpoint(checkpoint{logStart: l.mu.logStart, recoveryPoint: end})
}

// saveCheckpoint writes cp as the log's checkpoint.
func (l *Log) saveCheckpoint(cp checkpoint) error {
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	return l.saveCheckpointLocked(cp)
}

func (l *Log) saveCheckpointLocked(cp checkpoint) error {
	// The reserve gives a full disk room for it (docs/format/meta.md).
	if err := l.m.cfg.Reserve.Do(func() error { return writeCheckpoint(l.dir, cp) }); err != nil {
		return err
	}
	l.ckpt.last = cp
	return nil
}

// markUnclean makes the checkpoint say "not clean" before the log's files
// first change after a clean open or creation, so that a crash from then on
// is recovered. Later calls cost a mutex.
func (l *Log) markUnclean() error {
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	if !l.ckpt.last.clean {
		return nil
	}
	cp := l.ckpt.last
	cp.clean = false
	if err := l.saveCheckpointLocked(cp); err != nil {
		return fmt.Errorf("mark log unclean: %w", err)
	}
	return nil
}

// isClean says whether the files are as a clean close left them.
func (l *Log) isClean() bool {
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	return l.ckpt.last.clean
}

// openSegments opens every segment file, removing those wholly below
// logStart, and creates the first one if there is none.
func (l *Log) openSegments(logStart int64) ([]*segment, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("read log dir: %w", err)
	}
	var bases []int64
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name()); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for len(bases) > 1 && bases[1] <= logStart {
		s := &segment{base: bases[0], dir: l.dir}
		l.logger.Info("removing segment below log start offset", "segment", s.base)
		if err := removeSegmentFiles(s); err != nil {
			return nil, err
		}
		bases = bases[1:]
	}
	if len(bases) == 0 {
		bases = []int64{max(logStart, 0)}
	}
	segs := make([]*segment, 0, len(bases))
	for _, base := range bases {
		s, err := openSegment(l.m.files, l.dir, base, false)
		if err != nil {
			closeSegments(segs)
			return nil, err
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func removeSegmentFiles(s *segment) error {
	for _, ext := range segmentFileExts {
		if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove segment: %w", err)
		}
	}
	return nil
}

func closeSegments(segs []*segment) {
	for _, s := range segs {
		s.close()
	}
}

// loadProducers restores producer state from the snapshot written at the
// last clean close, replaying the batches appended after it, and with it
// the unstable transactions and the transaction indexes marked for
// rebuilding. The caller has set the high watermark.
func (l *Log) loadProducers(segs []*segment, end int64) error {
	p, from := producers{}, int64(0)
	b, err := os.ReadFile(filepath.Join(l.dir, snapshotFile))
	switch {
	case err == nil:
		sp, off, derr := decodeSnapshot(b)
		if derr == nil && off <= end {
			p, from = sp, off
		} else {
			l.logger.Warn("ignoring producer snapshot", "err", derr, "snapshot_offset", off)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read producer snapshot: %w", err)
	}
	kept, ok := keptTxnEntries(segs, from)
	if !ok {
		// A rebuilt index lost entries the replay from the snapshot
		// cannot recompute: replay the whole log instead.
		p, from, kept = producers{}, 0, nil
	}
	u := fromProducers(p)
	rebuilt, err := l.replayProducers(p, segs, from, &u, l.hwLocked())
	if err != nil {
		return err
	}
	if err := rebuildTxnIndexes(segs, kept, rebuilt); err != nil {
		return err
	}
	l.w.producers, l.mu.txns = p, u
	l.openMaxProducerID = -1
	for id := range p {
		l.openMaxProducerID = max(l.openMaxProducerID, id)
	}
	return nil
}

func (l *Log) closeFiles() {
	l.mu.Lock()
	segs := l.mu.segments
	l.mu.segments = nil
	l.mu.Unlock()
	closeSegments(segs)
}

// Topic returns the log's topic.
func (l *Log) Topic() string { return l.topic }

// Partition returns the log's partition.
func (l *Log) Partition() int32 { return l.partition }

// SetConfig applies a new configuration; it takes effect at the next append
// or retention run.
func (l *Log) SetConfig(lc LogConfig) {
	l.mu.Lock()
	l.mu.cfg = lc
	l.mu.Unlock()
}

// Config returns the configuration in effect.
func (l *Log) Config() LogConfig {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cfg
}

// Changed returns a channel closed at the next successful append.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.changed
}

// LogStartOffset returns the first offset a consumer may read.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStart
}

// LogEndOffset returns the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logEnd
}

// Size returns the bytes of all segment files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.st.size
	}
	return n
}

// close stops the writer and, unless the log is being deleted, flushes and
// writes the clean-shutdown checkpoint and producer snapshot.
func (l *Log) close(reason error) error {
	l.q.Lock()
	already := l.q.closed != nil
	if !already {
		l.q.closed = reason
	}
	l.q.Unlock()
	l.wake()
	l.writers.Wait()
	if already {
		return nil
	}
	var err error
	if reason == ErrClosed {
		if err = l.shutdownCleanly(); err != nil {
			l.logger.Error("clean shutdown failed; the log will be recovered when opened", "err", err)
		}
	}
	return err
}

func (l *Log) shutdownCleanly() error {
	l.mu.RLock()
	segs, end, start, werr := l.mu.segments, l.mu.logEnd, l.mu.logStart, l.mu.err
	l.mu.RUnlock()
	defer closeSegments(segs)
	if werr != nil || l.Offline() != nil {
		return nil // not clean: recovery will re-validate the tail
	}
	if err := l.persistHighWatermark(); err != nil {
		return err
	}
	if l.isClean() {
		return nil // unchanged since a clean open
	}
	active := segs[len(segs)-1]
	l.mu.Lock()
	active.sealTimeIndex(&active.st)
	l.mu.Unlock()
	if err := active.writeIndexes(&active.st); err != nil {
		return err
	}
	active.dirtyIndexes = true
	for _, s := range append(l.w.dirty, active) {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if err := replaceFile(opSnapshot, l.dir, snapshotFile, l.w.producers.encodeSnapshot(end)); err != nil {
		return err
	}
	return l.saveCheckpoint(checkpoint{logStart: start, recoveryPoint: end, clean: true})
}

func (l *Log) now() time.Time { return l.m.now() }

// closedErr returns ErrClosed or ErrLogDeleted once the log is closing.
func (l *Log) closedErr() error {
	l.q.Lock()
	defer l.q.Unlock()
	return l.q.closed
}
