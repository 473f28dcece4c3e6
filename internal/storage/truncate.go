package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// TruncateTo removes every batch at and above offset, as a follower does
// when the leader's log diverged from its own (Kafka's truncateTo). A batch
// holding offset goes entirely, so the new log end offset, returned, may be
// below offset; an offset at or past the log end changes nothing, and one
// below the log start offset is out of range. The high watermark, recovery
// point and the cleaner's first dirty offset (in memory and in its
// checkpoint file) are lowered to the new end, the leader-epoch cache loses
// the entries starting at or after it, and producer state is rebuilt as of
// it. The truncation is durable when TruncateTo returns. It runs on the
// writer, ordered with appends, and holds adminMu so that retention,
// DeleteRecords and the cleaner do not change segments meanwhile. Readers
// holding a snapshot taken before get what it promised or ErrLogTruncated.
func (l *Log) TruncateTo(ctx context.Context, offset int64) (int64, error) {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	res, err := l.submit(ctx, &appendReq{truncate: true, truncTo: offset, done: make(chan struct{})})
	if err != nil {
		return 0, fmt.Errorf("truncate %s to %d: %w", partitionDirName(l.topic, l.partition), offset, err)
	}
	return res.BaseOffset, nil
}

// runTruncate runs a truncation request on the writer. A failure after
// files changed is sticky: memory and disk may disagree until reopened.
func (l *Log) runTruncate(r *appendReq) {
	if !r.state.CompareAndSwap(reqQueued, reqTaken) {
		return
	}
	var end int64
	var changed bool
	var err error
	if r.fully {
		end = r.truncTo
		changed, err = l.truncateFully(r.truncTo)
	} else {
		end, changed, err = l.truncate(r.truncTo)
	}
	if err != nil && changed {
		err = l.fail(err)
	}
	r.res.BaseOffset, r.err = end, err
	close(r.done)
}

// truncate cuts the log at offset and reports whether files changed.
func (l *Log) truncate(offset int64) (int64, bool, error) {
	l.mu.RLock()
	segs, start, end, werr := l.mu.segments, l.mu.logStart, l.mu.logEnd, l.mu.err
	l.mu.RUnlock()
	switch {
	case werr != nil:
		return end, false, werr
	case offset < start:
		return end, false, fmt.Errorf("%w: truncate to %d below the log start offset %d", ErrOffsetOutOfRange, offset, start)
	case offset >= end:
		return end, false, nil
	}
	k := max(sort.Search(len(segs), func(i int) bool { return segs[i].base >= offset })-1, 0)
	s := segs[k]
	pos, newEnd, err := cutPoint(s, s.st, offset)
	if err != nil {
		return end, false, err
	}
	if err := l.markUnclean(); err != nil {
		return end, false, err
	}
	if err := l.lowerCleanedTo(newEnd); err != nil {
		return end, false, fmt.Errorf("truncate: %w", err)
	}
	if err := l.cutSegments(segs, k, pos, newEnd); err != nil {
		return end, true, err
	}
	if err := l.persistTruncation(newEnd); err != nil {
		return newEnd, true, err
	}
	l.logger.Info("truncated log", "offset", offset, "log_end_offset", newEnd, "previous_log_end_offset", end)
	return newEnd, true, nil
}

// cutPoint finds where truncating s at offset cuts it: the position of the
// first batch ending at or after offset, and the new log end offset (that
// batch's base offset, or offset itself when it starts there or s ends
// before).
func cutPoint(s *segment, st segState, offset int64) (int64, int64, error) {
	r := newBatchReader(s.log, st.size, 64<<10)
	pos, _, err := findBatch(r, s, st, offset)
	if err != nil || pos >= st.size {
		return pos, offset, err
	}
	h, err := r.header(pos)
	if err != nil {
		return 0, 0, s.corrupt(pos, -1, err)
	}
	return pos, min(h.BaseOffset, offset), nil
}

// cutSegments removes the segments after segs[k], cuts segs[k] at pos, and
// publishes the truncated log with newEnd as its end. When segs[k] was
// closed it stays closed (it may have the gaps of a cleaned segment, which
// the active one may not) and a new active segment starts at newEnd; cut
// at 0 it goes too. The removed segments are renamed first and unlinked
// after file.delete.delay.ms, so that readers holding them finish.
func (l *Log) cutSegments(segs []*segment, k int, pos, newEnd int64) error {
	gone, kept := segs[k+1:], slices.Clip(segs[:k])
	if pos == 0 {
		gone = segs[k:]
	}
	l.mu.Lock()
	l.mu.truncations++ // odd: files are changing; see truncatedSince
	l.mu.Unlock()
	// Last first: a crash part way leaves a log cut higher, not one with
	// a hole that would pass for a cleaned gap.
	for _, s := range slices.Backward(gone) {
		if err := s.markRemoved(); err != nil {
			return err
		}
	}
	cfg := l.Config()
	var cut *segment
	var st segState
	if pos > 0 {
		var err error
		cut = segs[k]
		if st, err = l.cutSegment(cut, pos, newEnd, k == len(segs)-1, cfg); err != nil {
			return err
		}
		kept = append(kept, cut)
	}
	if pos == 0 || k < len(segs)-1 {
		ns, err := openSegment(l.m.files, l.dir, newEnd, true)
		if err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
		kept = append(kept, ns)
	}
	if err := l.syncTruncation(kept); err != nil {
		return err
	}
	l.publishTruncation(cut, st, kept, newEnd)
	l.m.deleter.schedule(gone, time.Duration(cfg.FileDeleteDelayMs)*time.Millisecond)
	return nil
}

// cutSegment truncates s at pos and rebuilds its indexes; a segment that
// stays closed is sealed and ends at newEnd, where the new active starts.
func (l *Log) cutSegment(s *segment, pos, newEnd int64, active bool, cfg LogConfig) (segState, error) {
	if err := truncateFile(s.log, pos); err != nil {
		return segState{}, fmt.Errorf("truncate segment: %w", err)
	}
	s.verifyEnd.Store(min(s.verifyEnd.Load(), pos))
	st, err := s.rebuildIndexing(pos, cfg.IndexIntervalBytes)
	if err != nil {
		return st, err
	}
	// Entries whose marker is cut go; the transactions they ended are
	// ongoing again (rebuildProducers).
	for _, e := range s.st.aborted {
		if e.LastOffset < newEnd {
			st.aborted = append(st.aborted, e)
		}
	}
	if !active {
		s.sealTimeIndex(&st)
		st.next = newEnd
	}
	return st, s.rewriteIndexesOf(&st)
}

// syncTruncation makes the cut durable, and with it everything written
// before: the segments written since the last flush, the cut one's new
// size, the new active segment and the renames of the removed ones (a
// truncation undone by a crash would bring back batches the leader does
// not have).
func (l *Log) syncTruncation(kept []*segment) error {
	for _, s := range append(l.w.dirty, kept[max(len(kept)-2, 0):]...) {
		s.dirtyIndexes = true
		if err := s.sync(); err != nil {
			return err
		}
	}
	l.w.dirty, l.w.unflushedMsgs = l.w.dirty[:0], 0
	return syncDir(l.dir)
}

// rebuildIndexing recomputes the segment's state and the writer's indexing
// marks from the batch headers below size.
func (s *segment) rebuildIndexing(size, interval int64) (segState, error) {
	s.bytesSinceIndex, s.firstTs, s.lastTimeEntryTs, s.maxTsLastOffset = 0, -1, -1, -1
	st := segState{next: s.base, maxTs: -1}
	r := newBatchReader(s.log, size, scanWindow)
	for st.size < size {
		h, err := r.header(st.size)
		if err != nil {
			return st, s.corrupt(st.size, st.next, err)
		}
		s.addBatch(&st, h, st.size, interval)
	}
	return st, nil
}

// rewriteIndexesOf replaces the index files with the entries of st.
func (s *segment) rewriteIndexesOf(st *segState) error {
	for _, f := range []*segFile{s.idx, s.tidx} {
		if err := truncateFile(f, 0); err != nil {
			return fmt.Errorf("truncate index: %w", err)
		}
	}
	if err := s.truncateTxnIndex(0); err != nil {
		return err
	}
	s.idxOnDisk, s.tidxOnDisk = 0, 0
	return s.writeIndexes(st)
}

// persistTruncation rebuilds the producer state and rewrites the files
// that described the log above newEnd: the producer snapshot (a later
// open must not start from one taken above the cut), the checkpoint's
// recovery point (batches appended from newEnd on are not yet fsynced) and
// the leader-epoch cache.
func (l *Log) persistTruncation(newEnd int64) error {
	if err := l.rebuildProducers(newEnd); err != nil {
		return err
	}
	if err := replaceFile(opSnapshot, l.dir, snapshotFile, l.w.producers.encodeSnapshot(newEnd)); err != nil {
		return fmt.Errorf("write producer snapshot: %w", err)
	}
	l.mu.RLock()
	el, start := l.mu.epochs, l.mu.logStart
	l.mu.RUnlock()
	if err := l.persistCheckpoint(start); err != nil {
		return err
	}
	return writeEpochs(l.dir, el)
}

// rebuildProducers restores the producer state as of end: from the
// snapshot if it is not past end, else from nothing, replaying the
// batches after it. The unstable transactions are recomputed with it:
// those whose marker the cut removed are open again.
func (l *Log) rebuildProducers(end int64) error {
	p, from := producers{}, int64(0)
	if b, err := os.ReadFile(filepath.Join(l.dir, snapshotFile)); err == nil {
		if sp, off, derr := decodeSnapshot(b); derr == nil && off <= end {
			p, from = sp, off
		}
	}
	l.mu.RLock()
	segs, hw := l.mu.segments, l.hwLocked()
	l.mu.RUnlock()
	u := fromProducers(p)
	if _, err := l.replayProducers(p, segs, from, &u, hw); err != nil {
		return err
	}
	l.w.producers = p
	l.mu.Lock()
	l.mu.txns = u
	l.mu.Unlock()
	return nil
}

// publishTruncation makes the truncated log visible: the cut segment's
// state, the segments kept and the new end, with what pointed above it
// lowered (the epoch cache drops the entries at or after it). Everything
// below end was just fsynced, so it is the new recovery point.
func (l *Log) publishTruncation(cut *segment, st segState, kept []*segment, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cut != nil {
		cut.st = st
	}
	l.mu.segments = kept
	l.mu.truncations++
	l.mu.logEnd = end
	l.mu.logStart = min(l.mu.logStart, end)
	l.mu.hw = min(l.mu.hw, end)
	l.mu.recoveryPoint = end
	l.mu.cleanedTo = min(l.mu.cleanedTo, end)
	l.mu.epochs = l.mu.epochs.truncateFromEnd(end)
	l.mu.txns.cut(end) // until rebuildProducers recomputes them
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
}
