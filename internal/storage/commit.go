package storage

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// maxRetainedBuf bounds the write buffer the writer keeps between groups.
const maxRetainedBuf = 8 << 20

// commit writes the staged group with one write per segment touched,
// fsyncs when asked or due, and publishes it to readers. A group that is
// fsynced is published after the fsync, so that readers never see bytes
// whose fsync (and so whose appends) failed.
func (l *Log) commit(g *group, cfg LogConfig) error {
	if cap(g.buf) <= maxRetainedBuf {
		l.w.buf = g.buf[:0]
	}
	if len(g.pieces) == 1 && g.pieces[0].to == g.pieces[0].from {
		return nil
	}
	if err := l.writeGroup(g); err != nil {
		return err // failGroup decides whether it is sticky
	}
	if l.w.unflushedMsgs == 0 {
		l.w.unflushedSince = l.now()
	}
	l.w.unflushedMsgs += g.records
	if g.sync || l.flushDue(cfg) {
		if err := l.flush(g.next); err != nil {
			return l.fail(err)
		}
	}
	l.publish(g)
	if cfg.Compact && len(g.pieces) > 1 {
		l.m.cleaner.kick() // a segment closed: maybe something to clean
	}
	return nil
}

func (l *Log) writeGroup(g *group) error {
	if err := l.markUnclean(); err != nil {
		return err
	}
	if len(g.newEpochs) > 0 || l.w.epochsStale {
		// Before the batches: after a crash the file may be ahead of the
		// log (cut at open) but never behind it. See loadEpochs.
		l.mu.RLock()
		el := append(slices.Clip(l.mu.epochs), g.newEpochs...)
		l.mu.RUnlock()
		if err := writeEpochs(l.dir, el); err != nil {
			return err
		}
		l.w.epochsStale = false
	}
	for i := range g.pieces {
		p := &g.pieces[i]
		if p.to > p.from {
			if err := writeAt(opWrite, p.seg.log, g.buf[p.from:p.to], p.startPos); err != nil {
				return fmt.Errorf("write segment: %w", err)
			}
		}
		if err := p.seg.writeIndexes(&p.st); err != nil {
			return err
		}
		if !slices.Contains(l.w.dirty, p.seg) {
			l.w.dirty = append(l.w.dirty, p.seg)
		}
	}
	return nil
}

// publish makes the group visible to readers and wakes long polls.
func (l *Log) publish(g *group) {
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := l.mu.segments
	for i := range g.pieces {
		p := &g.pieces[i]
		p.seg.st = p.st
		if p.isNew {
			segs = append(slices.Clip(segs), p.seg)
		}
	}
	l.mu.segments = segs
	l.mu.epochs = append(slices.Clip(l.mu.epochs), g.newEpochs...)
	if g.next != l.mu.logEnd {
		l.mu.logEnd = g.next
		close(l.mu.changed)
		l.mu.changed = make(chan struct{})
	}
	l.publishTxnsLocked(g.txns)
}

func (l *Log) flushDue(cfg LogConfig) bool {
	if l.w.unflushedMsgs >= cfg.FlushMessages {
		return true
	}
	if cfg.FlushMs >= math.MaxInt64/int64(time.Millisecond) {
		return false
	}
	return l.now().Sub(l.w.unflushedSince) >= time.Duration(cfg.FlushMs)*time.Millisecond
}

// flush fsyncs every segment written since the last flush and advances the
// recovery point to end, the offset after the last batch written.
func (l *Log) flush(end int64) error {
	for _, s := range l.w.dirty {
		if err := s.sync(); err != nil {
			return err
		}
	}
	l.w.dirty, l.w.unflushedMsgs = l.w.dirty[:0], 0
	l.mu.Lock()
	l.mu.recoveryPoint = end
	l.mu.Unlock()
	return nil
}

// fail makes a write failure sticky; only the writer calls it. It also
// ends a disk-full failure's retries. The writer stops flushing: after a
// failed fsync the kernel may have dropped the dirty pages, so a retry
// could succeed without making anything durable.
func (l *Log) fail(err error) error {
	l.w.dirty, l.w.unflushedMsgs = nil, 0
	l.mu.Lock()
	first := l.mu.err == nil || !l.mu.retryAt.IsZero()
	if first {
		l.mu.err = fmt.Errorf("%w: log %s: %w", ErrStorage, partitionDirName(l.topic, l.partition), err)
		l.mu.retryAt = time.Time{}
	}
	err = l.mu.err
	l.mu.Unlock()
	if first {
		l.logger.Error("log write failed; refusing further appends", "err", err)
	}
	return err
}

// discard undoes, as far as the disk allows, what a failed group left:
// the active segment's files are cut back to their published sizes and
// the segments the group rolled to are removed. It reports whether that
// worked. Whatever remains is a torn tail (or, if a whole batch survives,
// an append whose outcome was unknown, as after a crash) that recovery
// deals with on reopen.
func (l *Log) discard(g *group) bool {
	ok := true
	for i := range g.pieces {
		p := &g.pieces[i]
		switch {
		case p.isNew:
			p.seg.removed.Store(true)
			p.seg.close()
			if err := removeSegmentFiles(p.seg); err != nil {
				l.logger.Warn("cannot remove segment of failed write", "segment", p.seg.base, "err", err)
				ok = false
			}
		case i == 0 && len(g.staged) > 0:
			if err := p.seg.cutBack(p.startPos, g.undo.active); err != nil {
				l.logger.Warn("cannot truncate failed write", "segment", p.seg.base, "err", err)
				ok = false
			}
		}
	}
	return ok
}

// answer completes every staged request of the group.
func (l *Log) answer(g *group, err error) {
	start := l.LogStartOffset()
	for _, r := range g.staged {
		if err != nil {
			r.err = err
		} else {
			r.res.LogStartOffset = start
		}
		close(r.done)
	}
}
