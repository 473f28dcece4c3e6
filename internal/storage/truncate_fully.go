package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// TruncateFullyAndStartAt empties the log and starts it again at offset,
// as a follower does when the leader no longer holds its next offset (its
// log start passed it: retention or DeleteRecords while the follower was
// away), Kafka's truncateFullyAndStartAt. Every segment goes; the log
// start, log end, high watermark and recovery point become offset, in a
// new active segment based there; the leader-epoch cache, the producer
// state and the cleaner's progress are cleared. The result is durable when
// it returns, and a crash part way leaves a log that opens consistently:
// a prefix of the old one (as a TruncateTo would have left) or the empty
// log at offset. Like TruncateTo it runs on the writer, ordered with
// appends, and holds adminMu; readers holding a snapshot taken before get
// what it promised or ErrLogTruncated.
func (l *Log) TruncateFullyAndStartAt(ctx context.Context, offset int64) error {
	name := partitionDirName(l.topic, l.partition)
	if offset < 0 {
		return fmt.Errorf("truncate %s fully at %d: %w: negative offset", name, offset, ErrInvalid)
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	req := &appendReq{truncate: true, fully: true, truncTo: offset, done: make(chan struct{})}
	if _, err := l.submit(ctx, req); err != nil {
		return fmt.Errorf("truncate %s fully at %d: %w", name, offset, err)
	}
	return nil
}

// truncateFully replaces every segment with an empty one at offset, on the
// writer, and reports whether files changed. The steps are ordered so
// that each crash point opens as a consistent log:
//
//  1. The producer snapshot and the cleaner checkpoint, which describe
//     batches about to go, are removed, durably, first: opening rebuilds
//     the producer state from whatever segments remain, and counts them
//     all as dirty. (The epoch file needs nothing: opening folds it at the
//     log start and cuts it at the log end, which leaves nothing of it for
//     an empty log.)
//  2. The segments are renamed to .deleted, last first, so a crash part
//     way leaves a prefix of the log, never one with a hole; the directory
//     is fsynced before the new segment exists, which could otherwise
//     survive a crash beside old segments, leaving a hole between them.
//  3. The new segment is created and the directory fsynced. A log whose
//     only segment is empty opens with log start = log end = its base,
//     whatever the stale checkpoint and high watermark say.
//  4. The checkpoint files are written for the new log, and it is
//     published.
func (l *Log) truncateFully(offset int64) (bool, error) {
	l.mu.RLock()
	segs, start, end, werr := l.mu.segments, l.mu.logStart, l.mu.logEnd, l.mu.err
	l.mu.RUnlock()
	if werr != nil {
		return false, werr
	}
	if err := l.markUnclean(); err != nil {
		return false, err
	}
	if err := l.removeDerivedFiles(); err != nil {
		return true, err
	}
	l.mu.Lock()
	l.mu.truncations++ // odd: files are changing; see truncatedSince
	l.mu.Unlock()
	if err := removeSegments(segs, l.dir); err != nil {
		return true, err
	}
	ns, err := openSegment(l.m.files, l.dir, offset, true)
	if err != nil {
		return true, fmt.Errorf("truncate fully: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		ns.close()
		return true, err
	}
	l.w.dirty, l.w.unflushedMsgs = l.w.dirty[:0], 0
	l.w.producers, l.w.epochsStale = producers{}, false
	if err := l.persistEmpty(offset); err != nil {
		ns.close()
		return true, err
	}
	l.publishEmpty(ns, offset)
	l.m.deleter.schedule(segs, time.Duration(l.Config().FileDeleteDelayMs)*time.Millisecond)
	l.logger.Info("truncated log fully", "log_start_offset", offset,
		"previous_log_start_offset", start, "previous_log_end_offset", end)
	return true, nil
}

// removeDerivedFiles removes, durably, the producer snapshot and the
// cleaner checkpoint, whose offsets the new log's batches would otherwise
// be taken for. Opening rebuilds the producer state from the segments and
// counts a log without a cleaner checkpoint as wholly dirty, so until the
// segments go a crash loses nothing.
func (l *Log) removeDerivedFiles() error {
	for _, name := range []string{snapshotFile, cleanerCheckpointFile} {
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("truncate fully: %w", err)
		}
	}
	return syncDir(l.dir)
}

// removeSegments renames segs to .deleted, last first, and makes that
// durable.
func removeSegments(segs []*segment, dir string) error {
	for _, s := range slices.Backward(segs) {
		if err := s.markRemoved(); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// persistEmpty writes the files of an empty log at offset: the high
// watermark, the checkpoint (log start and recovery point), an empty
// leader-epoch cache and an empty producer snapshot. The caller holds
// adminMu, so the checkpoint loop does not write the old high watermark
// meanwhile.
func (l *Log) persistEmpty(offset int64) error {
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	if l.manualHW() {
		if err := l.m.cfg.Reserve.Do(func() error { return replaceFile(opCheckpoint, l.dir, hwFile, encodeHighWatermark(offset)) }); err != nil {
			return fmt.Errorf("write high watermark: %w", err)
		}
		l.ckpt.hw = offset
	}
	if err := l.saveCheckpointLocked(checkpoint{logStart: offset, recoveryPoint: offset}); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := writeEpochs(l.dir, nil); err != nil {
		return err
	}
	if err := replaceFile(opSnapshot, l.dir, snapshotFile, producers{}.encodeSnapshot(offset)); err != nil {
		return fmt.Errorf("write producer snapshot: %w", err)
	}
	return nil
}

// publishEmpty makes the empty log at offset, whose only segment is ns,
// visible to readers and wakes long polls.
func (l *Log) publishEmpty(ns *segment, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.segments = []*segment{ns}
	l.mu.truncations++
	l.mu.logStart, l.mu.logEnd, l.mu.hw = offset, offset, offset
	l.mu.recoveryPoint, l.mu.cleanedTo = offset, offset
	l.mu.epochs, l.mu.txns = nil, nil
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
}

// syncDir fsyncs a directory, making the renames, creations and removals
// in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync log dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync log dir: %w", err)
	}
	return nil
}
