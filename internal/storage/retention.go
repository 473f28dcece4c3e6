package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DeleteRecordsBefore advances the log start offset to offset (persisted)
// and deletes the segments wholly below it, rolling the active segment
// first when all of it goes, as retention does. An offset of -1 means the
// high watermark. It returns the new log start offset. An error means
// nothing changed: the new start is persisted before it is applied.
func (l *Log) DeleteRecordsBefore(ctx context.Context, offset int64) (int64, error) {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if err := l.closedErr(); err != nil {
		return 0, err
	}
	if err := l.Offline(); err != nil {
		return 0, err
	}
	l.mu.RLock()
	hw, start := l.hwLocked(), l.mu.logStart
	l.mu.RUnlock()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return start, fmt.Errorf("%w: delete before %d, high watermark %d", ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= start {
		return start, nil
	}
	if err := l.persistCheckpoint(offset); err != nil {
		return start, err
	}
	l.advanceStart(offset)
	if offset == hw {
		// The active segment goes too; a failed roll only keeps its bytes
		// until retention or the next DeleteRecords.
		if err := l.requestRoll(ctx); err != nil {
			l.logger.Warn("cannot roll the active segment to delete it", "err", err)
		}
	}
	n := l.countSegments(func(s *segment, st segState, _ bool) bool { return st.next <= offset })
	if err := l.deleteHead(n, "delete_records"); err != nil {
		// The new start is durable; the segments below it are removed
		// at the next open.
		l.logger.Warn("cannot delete segments below the log start offset", "err", err)
	}
	return offset, nil
}

// advanceStart publishes a new log start offset and folds the leader
// epochs below it into one starting there, as Kafka does. The epoch file
// is not rewritten: opening folds it again from the checkpoint's start.
func (l *Log) advanceStart(start int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advanceStartLocked(start)
}

func (l *Log) advanceStartLocked(start int64) {
	l.mu.logStart = start
	l.mu.epochs = l.mu.epochs.truncateFromStart(start)
}

// countSegments counts leading non-active segments matching pred.
func (l *Log) countSegments(pred func(*segment, segState, bool) bool) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for i, s := range l.mu.segments {
		if !pred(s, s.st, i == len(l.mu.segments)-1) {
			break
		}
		n++
	}
	return min(n, len(l.mu.segments)-1)
}

// deleteHead removes the first n segments: the log start moves past them
// (persisted first, so a failure changes nothing), they leave the segment
// list, and their files are renamed now and unlinked after
// file.delete.delay.ms. The caller holds adminMu, so the head of the list
// cannot change in between (the writer only appends to it).
func (l *Log) deleteHead(n int, reason string) error {
	if n <= 0 {
		return nil
	}
	l.mu.RLock()
	start := max(l.mu.logStart, l.mu.segments[n].base)
	moved, delay := start != l.mu.logStart, l.mu.cfg.FileDeleteDelayMs
	l.mu.RUnlock()
	if moved {
		if err := l.persistCheckpoint(start); err != nil {
			return err
		}
	}
	l.mu.Lock()
	gone := l.mu.segments[:n]
	l.mu.segments = l.mu.segments[n:]
	l.advanceStartLocked(start)
	l.mu.Unlock()
	var size int64
	for _, s := range gone {
		size += s.st.size
		if err := s.markRemoved(); err != nil {
			return err
		}
	}
	l.m.deleter.schedule(gone, time.Duration(delay)*time.Millisecond)
	l.logger.Info("deleted segments", "reason", reason, "segments", n,
		"first_segment", gone[0].base, "bytes", size, "log_start_offset", start)
	return nil
}

// checkpointIfOpen persists the checkpoint of a log that is not closing.
// Holding adminMu across the check and the write keeps DeleteTopic from
// removing (and a re-create from reusing) the directory in between.
func (l *Log) checkpointIfOpen() error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if l.closedErr() != nil || l.Offline() != nil {
		return nil // an offline log's files stay as they were found
	}
	return errors.Join(l.persistCheckpoint(l.LogStartOffset()), l.persistHighWatermark())
}

// persistCheckpoint writes logStart and the recovery point when they
// changed since the last checkpoint, with the disk reserve's help on a full
// disk; the caller holds adminMu and has checked the log is open. A failure
// is a disk error (ErrStorage) that leaves the previous checkpoint in place.
func (l *Log) persistCheckpoint(logStart int64) error {
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	l.mu.RLock()
	cp := checkpoint{logStart: logStart, recoveryPoint: l.mu.recoveryPoint}
	l.mu.RUnlock()
	if last := l.ckpt.last; last.logStart == cp.logStart && last.recoveryPoint == cp.recoveryPoint {
		return nil
	}
	if err := l.saveCheckpointLocked(cp); err != nil {
		return fmt.Errorf("%w: persist checkpoint of %s: %w", ErrStorage, partitionDirName(l.topic, l.partition), err)
	}
	return nil
}

// enforceRetention deletes the segments that retention.ms and
// retention.bytes reject, rolling first if that includes the active one.
func (l *Log) enforceRetention(ctx context.Context, now time.Time) error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	cfg := l.Config()
	if !cfg.Delete || l.Offline() != nil {
		return nil
	}
	if err := l.closedErr(); err != nil {
		return err
	}
	n, all := l.expiredSegments(cfg, now)
	if all {
		if err := l.requestRoll(ctx); err != nil {
			return err
		}
		n, _ = l.expiredSegments(cfg, now)
	}
	return l.deleteHead(n, "retention")
}

// expiredSegments counts the leading segments to delete; all says that
// includes the non-empty active segment.
func (l *Log) expiredSegments(cfg LogConfig, now time.Time) (int, bool) {
	l.mu.RLock()
	segs := l.mu.segments
	sts := make([]segState, len(segs))
	var total int64
	for i, s := range segs {
		sts[i] = s.st
		total += s.st.size
	}
	l.mu.RUnlock()
	excess := total - cfg.RetentionBytes
	n := 0
	for i, s := range segs {
		byTime := cfg.RetentionMs >= 0 && now.UnixMilli()-s.lastModified(sts[i]) > cfg.RetentionMs
		bySize := cfg.RetentionBytes >= 0 && excess >= sts[i].size
		// An empty closed segment (all compacted away) goes with its
		// neighbours; an empty active one stops the count.
		if sts[i].size == 0 && i == len(segs)-1 || sts[i].size > 0 && !byTime && !bySize {
			break
		}
		excess -= sts[i].size
		n++
	}
	if n == len(segs) {
		return n - 1, true
	}
	return n, false
}

// lastModified is the segment's largest timestamp, or its file's mtime
// when batches carry none.
func (s *segment) lastModified(st segState) int64 {
	if st.maxTs > 0 {
		return st.maxTs
	}
	if fi, err := s.log.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// deleter closes and unlinks removed segments after a delay, so readers
// holding their files finish first. close runs what is still pending and
// waits for running deletions.
type deleter struct {
	logger *slog.Logger
	wg     sync.WaitGroup
	mu     sync.Mutex
	timers map[*time.Timer][]*segment // nil once closed
}

func newDeleter(logger *slog.Logger) *deleter {
	return &deleter{logger: logger, timers: map[*time.Timer][]*segment{}}
}

func (d *deleter) schedule(segs []*segment, delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timers == nil {
		d.unlink(segs)
		return
	}
	d.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		defer d.wg.Done()
		d.mu.Lock()
		segs := d.timers[t]
		delete(d.timers, t)
		d.mu.Unlock()
		d.unlink(segs)
	})
	d.timers[t] = segs
}

func (d *deleter) unlink(segs []*segment) {
	for _, s := range segs {
		if err := s.unlink(); err != nil {
			d.logger.Warn("could not remove deleted segment", "segment", s.base, "dir", s.dir, "err", err)
		}
	}
}

func (d *deleter) close() {
	d.mu.Lock()
	pending := d.timers
	d.timers = nil
	d.mu.Unlock()
	for t, segs := range pending {
		if t.Stop() {
			d.wg.Done()
		}
		d.unlink(segs)
	}
	d.wg.Wait()
}

// removeDir deletes a partition directory; open files stay readable.
func removeDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", filepath.Base(dir), err)
	}
	return nil
}
