package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// errCleanAborted says a cleaning stopped because the log changed under
// it (retention removed its segments); it is retried later.
var errCleanAborted = errors.New("storage: cleaning aborted")

// cleanPlan is what one cleaning will do, decided from a snapshot.
type cleanPlan struct {
	cfg        LogConfig
	segs       []*segment // every segment at planning time, active last
	sts        []segState
	firstDirty int64 // offsets below were cleaned before
	end        int64 // first uncleanable offset: a segment base
	nCleanable int   // segs[:nCleanable] lie below end
	ratio      float64
	due        bool // max.compaction.lag.ms exceeded
	now        time.Time
	// truncations is Log.mu.truncations at planning: a TruncateTo since
	// aborts the cleaning, whose segments may hold batches it cut.
	truncations uint64
}

// planClean decides whether the log is worth cleaning now. Only closed
// segments wholly below the last stable offset are cleanable, as in Kafka:
// a follower may yet truncate batches above the high watermark, and a
// cleaning that let them supersede older records would lose those records
// with them; and records of a transaction not yet decided may still be
// aborted. Of the dirty segments, only those whose newest record is older
// than min.compaction.lag.ms are cleanable.
func (l *Log) planClean(now time.Time) (cleanPlan, bool) {
	l.mu.RLock()
	p := cleanPlan{cfg: l.mu.cfg, segs: l.mu.segments, now: now}
	p.sts = make([]segState, len(p.segs))
	for i, s := range p.segs {
		p.sts[i] = s.st
	}
	p.firstDirty = max(l.mu.cleanedTo, l.mu.logStart)
	p.truncations = l.mu.truncations
	lso := l.lsoLocked()
	l.mu.RUnlock()
	lagLimit := now.UnixMilli() - p.cfg.MinCompactionLagMs
	var clean, dirty int64
	for i := range p.segs[:len(p.segs)-1] {
		if p.sts[i].next > lso {
			break
		}
		isDirty := p.sts[i].next > p.firstDirty
		if isDirty && p.cfg.MinCompactionLagMs > 0 && p.sts[i].maxTs > lagLimit {
			break
		}
		if isDirty {
			dirty += p.sts[i].size
		} else {
			clean += p.sts[i].size
		}
		p.nCleanable = i + 1
	}
	p.end = p.segs[p.nCleanable].base
	if dirty == 0 {
		return p, false
	}
	p.firstDirty = min(p.firstDirty, p.end)
	p.ratio = float64(dirty) / float64(clean+dirty)
	p.due = l.compactionLagExceeded(p)
	return p, p.due || p.ratio >= p.cfg.MinCleanableDirtyRatio
}

// cleanFailed turns the failure of a cleaning that raced with TruncateTo
// (which may cut the segments it reads) into errCleanAborted.
func (l *Log) cleanFailed(p cleanPlan, err error) error {
	if l.truncatedAfter(p.truncations) {
		return fmt.Errorf("%w: log truncated: %w", errCleanAborted, err)
	}
	return err
}

// compactionLagExceeded says whether the oldest dirty record is older than
// max.compaction.lag.ms (KIP-354), judged by the first dirty batch.
func (l *Log) compactionLagExceeded(p cleanPlan) bool {
	if p.cfg.MaxCompactionLagMs <= 0 || p.cfg.MaxCompactionLagMs >= math.MaxInt64/2 {
		return false
	}
	for i, s := range p.segs[:p.nCleanable] {
		if p.sts[i].next <= p.firstDirty || p.sts[i].size == 0 {
			continue
		}
		h, err := newBatchReader(s.log, p.sts[i].size, record.HeaderSize).header(0)
		return err == nil && p.now.UnixMilli()-h.MaxTimestamp > p.cfg.MaxCompactionLagMs
	}
	return false
}

// cleanStats describes one cleaning, for logs and CleanerStats.
type cleanStats struct {
	bytesRead, bytesWritten int64
	kept, removed           int64
	segments, groups        int
	duration                time.Duration
}

// cleanState is the input of filtering: the newest offset of every key of
// the dirty section, the last batch and last data batch of each producer,
// and the transactions met so far.
type cleanState struct {
	seeds      [2]maphash.Seed
	latest     map[[2]uint64]int64
	lastBatch  map[int64]int64 // producer id → base offset of its last batch
	lastData   map[int64]int64 // producer id → base offset of its last data batch
	txns       *txnTracker     // the rewriting pass, from the log start
	now        int64
	retainTomb int64 // delete.retention.ms: for tombstones and markers
	stats      cleanStats
}

func (cs *cleanState) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(cs.seeds[0], key), maphash.Bytes(cs.seeds[1], key)}
}

// clean compacts the cleanable segments of the log: it maps every key of
// the dirty section to its newest offset, then rewrites the cleanable
// segments group by group keeping only records that are the newest of
// their key, and swaps each group in.
func (l *Log) clean(ctx context.Context, c *cleaner, p cleanPlan) (cleanStats, error) {
	start := time.Now()
	pins, err := snapshotPins(l.dir)
	if err != nil {
		return cleanStats{}, err
	}
	cs := &cleanState{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		latest: map[[2]uint64]int64{}, lastBatch: map[int64]int64{}, lastData: map[int64]int64{}, txns: newTxnTracker(p.sts, pins),
		now: p.now.UnixMilli(), retainTomb: p.cfg.DeleteRetentionMs}
	if err := l.buildOffsetMap(ctx, c, cs, &p); err != nil {
		return cs.stats, l.cleanFailed(p, err)
	}
	for _, g := range groupSegments(p) {
		if err := l.cleanGroup(ctx, c, cs, p, g); err != nil {
			return cs.stats, l.cleanFailed(p, err)
		}
		cs.stats.groups++
		cs.stats.segments += g.to - g.from
	}
	if err := l.setCleanedTo(p.end, p.truncations); err != nil {
		return cs.stats, err
	}
	cs.stats.duration = time.Since(start)
	l.logCleaned(cs.stats, p)
	return cs.stats, nil
}

func (l *Log) logCleaned(st cleanStats, p cleanPlan) {
	secs := max(st.duration.Seconds(), 1e-9)
	l.logger.Info("cleaned log", "segments", st.segments, "groups", st.groups,
		"first_dirty_offset", p.firstDirty, "cleaned_to", p.end, "dirty_ratio", p.ratio,
		"bytes_read", st.bytesRead, "bytes_written", st.bytesWritten,
		"records_kept", st.kept, "records_removed", st.removed,
		"duration", st.duration, "mb_per_sec", float64(st.bytesRead)/secs/1e6)
}

// buildOffsetMap scans the dirty section (stopping at a segment boundary
// when the map is full) and the headers of the rest of the log.
func (l *Log) buildOffsetMap(ctx context.Context, c *cleaner, cs *cleanState, p *cleanPlan) error {
	budget := c.maxKeys()
	txns := newTxnTracker(p.sts, nil)
	for i, s := range p.segs {
		st := p.sts[i]
		dirty := i < p.nCleanable && st.next > p.firstDirty
		if dirty && len(cs.latest) >= budget && s.base > p.firstDirty {
			l.logger.Warn("offset map full; cleaning part of the dirty section", "keys", len(cs.latest), "cleaned_to", s.base)
			p.end, p.nCleanable, dirty = s.base, i, false
		}
		err := scanSegment(ctx, c, s, st, dirty, func(h record.BatchHeader, b []byte) error {
			if h.ProducerID >= 0 {
				cs.lastBatch[h.ProducerID] = h.BaseOffset
				if !h.IsControl() {
					cs.lastData[h.ProducerID] = h.BaseOffset
				}
			}
			if h.IsControl() {
				txns.marker(h)
				return nil
			}
			if txns.data(h) || b == nil {
				// An aborted record must not supersede a committed one
				// of its key (Kafka skips aborted transactions too).
				return nil
			}
			_, recs, err := record.Records(b)
			if err != nil {
				return fmt.Errorf("segment %d batch at offset %d: %w", s.base, h.BaseOffset, err)
			}
			for _, r := range recs {
				if r.Key != nil {
					cs.latest[cs.hash(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if dirty {
			cs.stats.bytesRead += st.size
		}
	}
	return nil
}

// scanSegment calls fn for every batch of the segment, with its bytes when
// full (valid until fn returns) or with nil bytes (headers only).
func scanSegment(ctx context.Context, c *cleaner, s *segment, st segState, full bool, fn func(record.BatchHeader, []byte) error) error {
	window := 64 << 10
	if full {
		window = scanWindow
	}
	r := newBatchReader(s.log, st.size, window)
	for pos := int64(0); pos < st.size; {
		h, err := r.header(pos)
		if err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		size := int64(h.Size())
		var b []byte
		if full {
			if err := c.throttle.wait(ctx, h.Size()); err != nil {
				return err
			}
			if b, err = r.batch(pos, h); err != nil {
				return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
			}
			if h, err = record.ParseHeader(b); err != nil {
				return err
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(wireHeader(h), b); err != nil {
			return err
		}
		pos += size
	}
	return nil
}

// segGroup is a run p.segs[from:to] rewritten into one segment.
type segGroup struct{ from, to int }

// groupSegments splits the cleanable segments into runs whose total size
// fits segment.bytes (and a segment's 32-bit positions and relative
// offsets), so small cleaned segments merge over time.
func groupSegments(p cleanPlan) []segGroup {
	var gs []segGroup
	for i := 0; i < p.nCleanable; {
		g := segGroup{from: i, to: i + 1}
		size := p.sts[i].size
		for g.to < p.nCleanable {
			next := p.sts[g.to].size
			span := p.segs[g.to+1].base - p.segs[g.from].base
			if size+next > p.cfg.SegmentBytes || size+next > math.MaxUint32 || span > math.MaxUint32 {
				break
			}
			size += next
			g.to++
		}
		gs = append(gs, g)
		i = g.to
	}
	return gs
}

// cleanGroup writes the retained batches of one group into a new
// ".cleaned" segment, fsyncs it and swaps it in.
func (l *Log) cleanGroup(ctx context.Context, c *cleaner, cs *cleanState, p cleanPlan, g segGroup) error {
	base := p.segs[g.from].base
	ns, err := createCleanedSegment(l.m.files, l.dir, base)
	if err != nil {
		return err
	}
	w := &cleanedWriter{seg: ns, interval: p.cfg.IndexIntervalBytes, c: c}
	for i := g.from; i < g.to; i++ {
		s, st := p.segs[i], p.sts[i]
		err = scanSegment(ctx, c, s, st, true, func(h record.BatchHeader, b []byte) error {
			out, err := cs.filterBatch(h, b)
			if err != nil {
				return fmt.Errorf("segment %d: %w", s.base, err)
			}
			return w.add(ctx, out)
		})
		if err != nil {
			break
		}
		if st.next <= p.firstDirty {
			cs.stats.bytesRead += st.size // dirty segments were counted by the map
		}
	}
	// The entries of the ABORT markers whose data was met: finish writes
	// and fsyncs them with the other indexes. Those of markers whose data
	// is gone are dropped, as in Kafka (a read_committed reader has
	// nothing left to skip).
	ns.st.aborted = cs.txns.takeKept()
	if err == nil {
		err = w.finish(ctx)
	}
	if err == nil {
		err = writeSwapInfo(ns, p.segs[g.to].base)
	}
	cs.stats.bytesWritten += w.written
	if err != nil {
		discardCleaned(ns)
		return err
	}
	ns.st.next = p.segs[g.to].base
	return l.swapIn(p.segs[g.from:g.to], ns, p.truncations)
}

// filterBatch returns what is left of one batch: the bytes unchanged,
// a rebuilt batch, or nil when nothing remains.
func (cs *cleanState) filterBatch(h record.BatchHeader, b []byte) ([]byte, error) {
	if h.IsControl() {
		return cs.filterControl(h, b)
	}
	_, recs, err := record.Records(b)
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	aborted := cs.txns.data(h)
	kept, tombs := recs[:0:0], false
	for _, r := range recs {
		if !aborted && cs.retain(h, r) {
			kept = append(kept, r)
			tombs = tombs || r.Value == nil
		}
	}
	cs.stats.kept += int64(len(kept))
	cs.stats.removed += int64(len(recs) - len(kept))
	switch {
	case len(kept) == 0 && cs.isLast(h):
		// Kafka keeps the header of a producer's last data batch so that
		// its sequence survives a restart that rebuilds producer state
		// (its marker, if any, then stays too: the batch is its
		// transaction's data).
		return record.Rebuild(h, nil)
	case len(kept) == 0:
		return nil, nil
	case len(kept) == len(recs) && (!tombs || h.HasDeleteHorizon()):
		return b, nil
	case tombs && !h.HasDeleteHorizon():
		return rebuildWithHorizon(h, kept, cs.now+cs.retainTomb)
	}
	return record.Rebuild(h, kept)
}

// isLast says whether h is its producer's last batch in the log, or its
// last data batch: the batches producer state rebuilt from the log needs
// for the producer's epoch and sequence.
func (cs *cleanState) isLast(h record.BatchHeader) bool {
	if h.ProducerID < 0 {
		return false
	}
	if last, ok := cs.lastBatch[h.ProducerID]; ok && last == h.BaseOffset {
		return true
	}
	last, ok := cs.lastData[h.ProducerID]
	return ok && last == h.BaseOffset && !h.IsControl()
}

// retain decides one record: keyless records are dropped (a compacted
// topic cannot hold them), as are records a newer one of the same key
// supersedes and tombstones past their delete horizon.
func (cs *cleanState) retain(h record.BatchHeader, r record.Record) bool {
	if r.Key == nil {
		return false
	}
	off := h.BaseOffset + int64(r.OffsetDelta)
	if latest, ok := cs.latest[cs.hash(r.Key)]; ok && latest > off {
		return false
	}
	if r.Value == nil && h.HasDeleteHorizon() && cs.now >= h.BaseTimestamp {
		return false
	}
	return true
}

// cleanedWriter appends batches to a new segment through a buffer and
// builds its indexes.
type cleanedWriter struct {
	seg      *segment
	interval int64
	c        *cleaner
	buf      []byte
	pos      int64 // file position of buf[0]
	written  int64
}

func (w *cleanedWriter) add(ctx context.Context, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	start := len(w.buf)
	if keys := w.seg.log.c.keys; keys != nil {
		w.buf = keys.seal(w.buf, b) // kept batches move to the first key too
	} else {
		w.buf = append(w.buf, b...)
	}
	h, err := record.ParseHeader(w.buf[start:])
	if err != nil {
		w.buf = w.buf[:start]
		return err
	}
	w.seg.addBatch(&w.seg.st, h, w.pos+int64(start), w.interval)
	if len(w.buf) >= 1<<20 {
		return w.flush(ctx)
	}
	return nil
}

func (w *cleanedWriter) flush(ctx context.Context) error {
	if err := w.c.throttle.wait(ctx, len(w.buf)); err != nil {
		return err
	}
	if err := writeAt(opWrite, w.seg.log, w.buf, w.pos); err != nil {
		return fmt.Errorf("write cleaned segment: %w", err)
	}
	w.pos += int64(len(w.buf))
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// finish writes what is buffered and the indexes, then fsyncs.
func (w *cleanedWriter) finish(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	w.seg.sealTimeIndex(&w.seg.st)
	if err := w.seg.writeIndexes(&w.seg.st); err != nil {
		return err
	}
	w.seg.dirtyIndexes = true
	return w.seg.sync()
}

// filterControl decides a control batch as Kafka's cleaner does. A
// marker whose transaction still has data below it stays as it is. Once
// none is left, the first cleaning to see that stamps it with a delete
// horizon (now + delete.retention.ms, as for tombstones), and a cleaning
// after the horizon removes it: so a marker outlives its transaction's
// data by at least one cleaning and delete.retention.ms, time for a
// consumer that read the data to read the marker too. The last batch of
// a producer stays as a bare header, which keeps its epoch for producer
// state rebuilt from the log. A control batch that is not a transaction
// marker is kept.
func (cs *cleanState) filterControl(h record.BatchHeader, b []byte) ([]byte, error) {
	// Checked, as a kept batch is copied as trusted.
	if _, err := record.ValidateStored(b); err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	_, isMarker, err := record.ParseEndTxnMarker(b)
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	done, pinned := cs.txns.marker(h)
	last := cs.isLast(h)
	n := int64(h.NumRecords)
	switch {
	case !done || pinned || !isMarker && n > 0:
		cs.stats.kept += n
		return b, nil
	case n == 0 && last: // emptied before
		return b, nil
	case n == 0:
		return nil, nil
	case !h.HasDeleteHorizon():
		cs.stats.kept += n
		return stampHorizon(h, b, cs.now+cs.retainTomb)
	case cs.now < h.BaseTimestamp: // before its horizon
		cs.stats.kept += n
		return b, nil
	}
	cs.stats.removed += n
	if last {
		return record.Rebuild(h, nil)
	}
	return nil, nil
}

// stampHorizon rebuilds the batch b with a delete horizon.
func stampHorizon(h record.BatchHeader, b []byte, horizon int64) ([]byte, error) {
	_, recs, err := record.Records(b)
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return rebuildWithHorizon(h, recs, horizon)
}

// rebuildWithHorizon rebuilds h's batch of recs with a delete horizon
// (KIP-534), re-basing the records' timestamp deltas so that their
// timestamps do not change.
func rebuildWithHorizon(h record.BatchHeader, recs []record.Record, horizon int64) ([]byte, error) {
	nh := h.WithDeleteHorizon(horizon)
	for i := range recs {
		recs[i].TimestampDelta += h.BaseTimestamp - nh.BaseTimestamp
	}
	return record.Rebuild(nh, recs)
}
