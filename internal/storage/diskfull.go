package storage

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"
)

// DiskFullBackoff is how long a log that hit ENOSPC refuses appends before
// the next one tries the disk again.
const DiskFullBackoff = time.Second

// writerMarks is the writer-owned indexing state of a segment, saved when
// a group starts so that a group that failed on a full disk can be undone.
type writerMarks struct {
	bytesSinceIndex, firstTs, lastTimeEntryTs, maxTsLastOffset int64
	idxOnDisk, tidxOnDisk, txnOnDisk                           int
}

func (s *segment) marks() writerMarks {
	return writerMarks{s.bytesSinceIndex, s.firstTs, s.lastTimeEntryTs, s.maxTsLastOffset, s.idxOnDisk, s.tidxOnDisk, s.txnOnDisk}
}

func (s *segment) restoreMarks(m writerMarks) {
	s.bytesSinceIndex, s.firstTs, s.lastTimeEntryTs, s.maxTsLastOffset = m.bytesSinceIndex, m.firstTs, m.lastTimeEntryTs, m.maxTsLastOffset
	s.idxOnDisk, s.tidxOnDisk, s.txnOnDisk = m.idxOnDisk, m.tidxOnDisk, m.txnOnDisk
}

// cutBack truncates the segment's log to size and its indexes to the
// entries m says were on disk (a transaction index not created yet stays
// so).
func (s *segment) cutBack(size int64, m writerMarks) error {
	if err := truncateFile(s.log, size); err != nil {
		return fmt.Errorf("truncate segment: %w", err)
	}
	if err := truncateFile(s.idx, int64(m.idxOnDisk)*indexEntrySize); err != nil {
		return fmt.Errorf("truncate index: %w", err)
	}
	if err := truncateFile(s.tidx, int64(m.tidxOnDisk)*timeIndexEntrySize); err != nil {
		return fmt.Errorf("truncate time index: %w", err)
	}
	if s.txnTorn || s.txnOnDisk > m.txnOnDisk {
		if err := s.truncateTxnIndex(m.txnOnDisk); err != nil {
			return err
		}
	}
	s.dirtyIndexes = true
	return nil
}

// groupUndo is what staging a group changed in writer-owned state.
type groupUndo struct {
	active    writerMarks
	producers map[int64]*producerEntry // entries before the group; nil: none
}

func (u *groupUndo) saveProducer(id int64, prev *producerEntry) {
	if u.producers == nil {
		u.producers = map[int64]*producerEntry{}
	}
	if _, ok := u.producers[id]; !ok {
		u.producers[id] = prev
	}
}

// failGroup cleans up after a group that failed with err and records the
// failure. ENOSPC while writing or creating a segment is retried after
// DiskFullBackoff when the cleanup worked: nothing of the group was
// acknowledged, the files are back at their published sizes and the writer
// state is as before the group. Every other failure is sticky.
func (l *Log) failGroup(g *group, err error) error {
	cut := l.discard(g)
	if errors.Is(err, ErrStorage) || errors.Is(err, ErrLogDeleted) {
		return err // already recorded, or nothing was staged
	}
	if !cut || !errors.Is(err, syscall.ENOSPC) {
		return l.fail(err)
	}
	l.undoGroup(g)
	return l.failDiskFull(err)
}

// undoGroup restores the writer state a discarded group changed.
func (l *Log) undoGroup(g *group) {
	g.pieces[0].seg.restoreMarks(g.undo.active)
	// The epoch file may hold the group's new epochs: the next group
	// rewrites it from the cache.
	l.w.epochsStale = l.w.epochsStale || len(g.newEpochs) > 0
	for id, e := range g.undo.producers {
		if e == nil {
			delete(l.w.producers, id)
		} else {
			l.w.producers[id] = e
		}
	}
	l.w.dirty = slices.DeleteFunc(l.w.dirty, func(s *segment) bool { return s.removed.Load() })
}

// failDiskFull refuses appends until DiskFullBackoff has passed.
func (l *Log) failDiskFull(err error) error {
	l.mu.Lock()
	first := l.mu.err == nil
	l.mu.err = fmt.Errorf("%w: log %s: %w", ErrStorage, partitionDirName(l.topic, l.partition), err)
	l.mu.retryAt = l.now().Add(DiskFullBackoff)
	err = l.mu.err
	l.mu.Unlock()
	if first {
		l.logger.Warn("disk full; refusing appends until a retry succeeds", "err", err, "backoff", DiskFullBackoff)
	}
	return err
}

// refusal returns the error an append gets without reaching the writer: the
// log being offline, a sticky failure, or a disk-full one until its retry is due. A roll
// (asked for by retention or DeleteRecords to free space) may always
// retry.
func (l *Log) refusal(roll bool) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.offline != nil {
		return l.mu.offline
	}
	if l.mu.err == nil || !l.mu.retryAt.IsZero() && (roll || !l.now().Before(l.mu.retryAt)) {
		return nil
	}
	return l.mu.err
}

// retryDue says whether the writer should try the disk again before reqs.
func (l *Log) retryDue(reqs []*appendReq) bool {
	l.mu.RLock()
	retryAt := l.mu.retryAt
	l.mu.RUnlock()
	if retryAt.IsZero() {
		return false
	}
	return !l.now().Before(retryAt) || slices.ContainsFunc(reqs, func(r *appendReq) bool { return r.roll })
}

// reprobe clears a disk-full failure before a retry: the active segment is
// cut back to its published size again and everything written since the
// last flush is fsynced, so a retry starts from a durable, known state. A
// failure of either is sticky (an fsync failure always is). It returns the
// error that still refuses appends, if any.
func (l *Log) reprobe() error {
	l.mu.RLock()
	active := l.mu.segments[len(l.mu.segments)-1]
	size, end := active.st.size, l.mu.logEnd
	l.mu.RUnlock()
	if err := active.cutBack(size, active.marks()); err != nil {
		return l.fail(err)
	}
	if !slices.Contains(l.w.dirty, active) {
		l.w.dirty = append(l.w.dirty, active)
	}
	if err := l.flush(end); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.mu.err, l.mu.retryAt = nil, time.Time{}
	l.mu.Unlock()
	l.logger.Info("disk space available again; log accepts appends")
	return nil
}
