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
// publishes it to readers and fsyncs when asked or due.
func (l *Log) commit(g *group, cfg LogConfig) error {
	if cap(g.buf) <= maxRetainedBuf {
		l.w.buf = g.buf[:0]
	}
	if len(g.pieces) == 1 && g.pieces[0].to == g.pieces[0].from {
		return nil
	}
	for i := range g.pieces {
		p := &g.pieces[i]
		if p.to > p.from {
			if _, err := p.seg.log.WriteAt(g.buf[p.from:p.to], p.startPos); err != nil {
				return l.fail(fmt.Errorf("write segment: %w", err))
			}
		}
		if err := p.seg.writeIndexes(&p.st); err != nil {
			return l.fail(err)
		}
		if !slices.Contains(l.w.dirty, p.seg) {
			l.w.dirty = append(l.w.dirty, p.seg)
		}
	}
	if l.w.unflushedMsgs == 0 {
		l.w.unflushedSince = l.now()
	}
	l.w.unflushedMsgs += g.records
	l.publish(g)
	if cfg.Compact && len(g.pieces) > 1 {
		l.m.cleaner.kick() // a segment closed: maybe something to clean
	}
	if g.sync || l.flushDue(cfg) {
		return l.flush(cfg)
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
	if g.next != l.mu.logEnd {
		l.mu.logEnd = g.next
		close(l.mu.changed)
		l.mu.changed = make(chan struct{})
	}
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
// recovery point.
func (l *Log) flush(LogConfig) error {
	for _, s := range l.w.dirty {
		if err := s.sync(); err != nil {
			return l.fail(err)
		}
	}
	l.w.dirty, l.w.unflushedMsgs = l.w.dirty[:0], 0
	l.mu.Lock()
	l.mu.recoveryPoint = l.mu.logEnd
	l.mu.Unlock()
	return nil
}

// fail makes a write failure sticky.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	if l.mu.err == nil {
		l.mu.err = fmt.Errorf("log %s failed: %w", partitionDirName(l.topic, l.partition), err)
		l.logger.Error("log write failed; refusing further appends", "err", err)
	}
	err = l.mu.err
	l.mu.Unlock()
	return err
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
