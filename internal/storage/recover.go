package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/eddy-streaming/eddy/internal/record"
)

const scanWindow = 1 << 20

// isCorruption tells damaged bytes (truncate and continue) from I/O
// failures (stop).
func isCorruption(err error) bool {
	return errors.Is(err, record.ErrInvalid) || errors.Is(err, record.ErrCorrupt) ||
		errors.Is(err, record.ErrUnsupportedMagic) || errors.Is(err, io.ErrUnexpectedEOF)
}

// recover validates every batch of the segment, rebuilds its indexes and
// truncates it after the last valid batch. It returns the bytes dropped.
// With contiguous (the active segment, which is never cleaned) each batch
// must start where the previous ended and hold every offset; otherwise
// cleaned batches and gaps are accepted; end is the next segment's base
// (math.MaxInt64 for the last), which no batch may reach. An invalid batch
// below keep (the recovery point: fsynced, so not a torn write) is not
// truncated: recover returns a *corruptionError and changes nothing.
func (s *segment) recover(interval int64, contiguous bool, keep, end int64) (int64, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	s.resetIndexing()
	s.firstControl = -1
	r := newBatchReader(s.log, fi.Size(), scanWindow)
	for s.st.size < fi.Size() {
		h, err := s.readValid(r, s.st.size, contiguous, end)
		if err != nil && !isCorruption(err) {
			return 0, err
		}
		if err != nil && s.st.next < keep {
			return 0, s.corrupt(s.st.size, s.st.next, err)
		}
		if err != nil {
			break
		}
		if h.IsControl() && s.firstControl < 0 {
			s.firstControl = h.BaseOffset
		}
		s.addBatch(&s.st, h, s.st.size, interval)
	}
	dropped := fi.Size() - s.st.size
	if dropped > 0 {
		if err := truncateFile(s.log, s.st.size); err != nil {
			return 0, fmt.Errorf("truncate segment: %w", err)
		}
	}
	return dropped, s.rewriteIndexes()
}

// readValid reads and validates the batch at pos, whose offsets must follow
// the segment's (with gaps where the cleaner removed records unless
// contiguous).
func (s *segment) readValid(r *batchReader, pos int64, contiguous bool, end int64) (record.BatchHeader, error) {
	h, err := r.header(pos)
	if err != nil {
		return h, err
	}
	b, err := r.batch(pos, h)
	if err != nil {
		return h, err
	}
	validate := record.ValidateStored
	if contiguous {
		validate = record.Validate
	}
	if _, err = validate(b); err != nil {
		return h, err
	}
	if h.PartitionLeaderEpoch < 0 {
		return h, fmt.Errorf("%w: batch at %d has leader epoch %d", record.ErrCorrupt, pos, h.PartitionLeaderEpoch)
	}
	if h.BaseOffset < s.st.next || contiguous && h.BaseOffset != s.st.next {
		return h, fmt.Errorf("%w: batch at %d has offset %d, expected at least %d", record.ErrInvalid, pos, h.BaseOffset, s.st.next)
	}
	if _, ok := s.rel(h.LastOffset()); !ok || pos > int64(^uint32(0)) || h.LastOffset() >= end {
		return h, fmt.Errorf("%w: batch at %d does not fit the segment", record.ErrInvalid, pos)
	}
	return h, nil
}

func (s *segment) resetIndexing() {
	s.st = segState{next: s.base, maxTs: -1}
	s.bytesSinceIndex, s.firstTs, s.lastTimeEntryTs, s.maxTsLastOffset = 0, -1, -1, -1
	s.idxOnDisk, s.tidxOnDisk, s.txnOnDisk = 0, 0, 0
}

// rewriteIndexes replaces both index files with the in-memory entries.
func (s *segment) rewriteIndexes() error {
	for _, f := range []*segFile{s.idx, s.tidx} {
		if err := truncateFile(f, 0); err != nil {
			return fmt.Errorf("truncate index: %w", err)
		}
	}
	s.idxOnDisk, s.tidxOnDisk = 0, 0
	return s.writeIndexes(&s.st)
}

// load trusts the log file up to its size and loads the index files,
// checking them against a few headers of the log (scanTail,
// checkTimeIndex, checkUnstamped). For the active segment it also finds
// the end offset and restores the writer's indexing state.
func (s *segment) load(next int64, active bool, interval int64) error {
	fi, err := s.log.Stat()
	if err != nil {
		return fmt.Errorf("stat segment: %w", err)
	}
	s.resetIndexing()
	lastIndexed, err := s.loadIndexFiles(fi.Size())
	if err != nil {
		return err
	}
	s.st.size = fi.Size()
	sealedTs := s.st.maxTs
	if err := s.scanTail(active, interval); err != nil {
		return err
	}
	if !active {
		if s.st.next > next {
			return fmt.Errorf("%w: segment holds offsets up to %d, the next starts at %d", errCorruptFile, s.st.next-1, next)
		}
		s.st.next = next
	}
	if err := s.checkTimeIndex(sealedTs, max(lastIndexed, s.firstTs)); err != nil {
		return err
	}
	return s.checkUnstamped(sealedTs)
}

// maxUnstampedChecks bounds the headers checkUnstamped reads.
const maxUnstampedChecks = 32

// checkUnstamped reads the batches at the first offset-index entries after
// the last time-index entry: had one of them raised the largest timestamp,
// appends would have written a time entry with it, so none may exceed
// sealedTs. This finds a time index that lost its last entries.
func (s *segment) checkUnstamped(sealedTs int64) error {
	xi, ti := s.st.index, s.st.tindex
	i := 0
	if n := len(ti); n > 0 {
		i = sort.Search(len(xi), func(i int) bool { return xi[i].rel > ti[n-1].rel })
	}
	r := newBatchReader(s.log, s.st.size, record.HeaderSize)
	for _, e := range xi[i:min(len(xi), i+maxUnstampedChecks)] {
		h, err := r.header(int64(e.pos))
		if err != nil {
			return err
		}
		if h.MaxTimestamp > sealedTs {
			return fmt.Errorf("%w: time index misses timestamp %d", errCorruptFile, h.MaxTimestamp)
		}
	}
	return nil
}

// loadIndexFiles reads both indexes, checks their structure and that the
// last offset-index entry points at a batch ending at its offset. It
// returns that batch's max timestamp (-1 without entries).
func (s *segment) loadIndexFiles(size int64) (int64, error) {
	ib, err := io.ReadAll(io.NewSectionReader(s.idx, 0, 1<<31))
	if err != nil {
		return 0, fmt.Errorf("read index: %w", err)
	}
	tb, err := io.ReadAll(io.NewSectionReader(s.tidx, 0, 1<<31))
	if err != nil {
		return 0, fmt.Errorf("read time index: %w", err)
	}
	if s.st.index, err = decodeIndex(ib, size); err != nil {
		return 0, err
	}
	if s.st.tindex, err = decodeTimeIndex(tb); err != nil {
		return 0, err
	}
	lastTs := int64(-1)
	if n := len(s.st.index); n > 0 {
		e := s.st.index[n-1]
		h, err := newBatchReader(s.log, size, record.HeaderSize).header(int64(e.pos))
		if err != nil || h.LastOffset() != s.base+int64(e.rel) {
			return 0, fmt.Errorf("%w: last index entry does not match the log", errCorruptFile)
		}
		lastTs = h.MaxTimestamp
	}
	if n := len(s.st.tindex); n > 0 {
		s.st.maxTs, s.lastTimeEntryTs = s.st.tindex[n-1].ts, s.st.tindex[n-1].ts
		s.maxTsLastOffset = s.base + int64(s.st.tindex[n-1].rel)
	}
	s.idxOnDisk, s.tidxOnDisk = len(s.st.index), len(s.st.tindex)
	return lastTs, nil
}

// scanTail walks the headers from the last index entry to the end of the
// file, restoring the end offset and the writer's indexing state. Appends
// add an entry once more than interval bytes follow the previous one, so
// a longer tail means index entries are missing (a truncated or emptied
// index): that is reported, and the caller rebuilds. The walk is short:
// about interval bytes and one batch.
func (s *segment) scanTail(active bool, interval int64) error {
	r := newBatchReader(s.log, s.st.size, 64<<10)
	var pos int64
	if n := len(s.st.index); n > 0 {
		pos = int64(s.st.index[n-1].pos)
	}
	next := s.base
	for first := true; pos < s.st.size; first = false {
		h, err := r.header(pos)
		if err != nil {
			return err
		}
		// The active segment is never cleaned: its offsets are contiguous.
		if active && (first && pos == 0 && h.BaseOffset != s.base || !first && h.BaseOffset != next) ||
			h.BaseOffset < next {
			return fmt.Errorf("%w: offsets do not follow at %d", errCorruptFile, pos)
		}
		if s.bytesSinceIndex > interval {
			return fmt.Errorf("%w: index entries missing after position %d", errCorruptFile, pos)
		}
		if h.MaxTimestamp > s.st.maxTs {
			s.st.maxTs, s.maxTsLastOffset = h.MaxTimestamp, h.LastOffset()
		}
		s.bytesSinceIndex += int64(h.Size())
		s.lastEpoch = h.PartitionLeaderEpoch
		next, pos = h.LastOffset()+1, pos+int64(h.Size())
	}
	if pos != s.st.size {
		return fmt.Errorf("%w: last batch overruns the segment", errCorruptFile)
	}
	s.st.next = next
	if s.st.size > 0 {
		h, err := r.header(0)
		if err != nil {
			return err
		}
		s.firstTs = h.MaxTimestamp
	}
	return nil
}

// checkTimeIndex checks the time index against the offset index and the
// headers load read: appends write a time entry together with the first
// offset-index entry whenever a timestamp was seen, and seal an inactive
// segment (roll, clean close) with an entry holding its largest
// timestamp. sealedTs is the last entry's timestamp (-1 if none); seenTs
// the largest batch timestamp read outside the tail.
func (s *segment) checkTimeIndex(sealedTs, seenTs int64) error {
	ti, xi := s.st.tindex, s.st.index
	if s.st.maxTs > sealedTs || seenTs > sealedTs {
		return fmt.Errorf("%w: time index misses timestamp %d", errCorruptFile, max(s.st.maxTs, seenTs))
	}
	if len(xi) > 0 && s.firstTs >= 0 && (len(ti) == 0 || ti[0].rel != xi[0].rel) {
		return fmt.Errorf("%w: time index does not start at the first index entry", errCorruptFile)
	}
	if n := len(ti); n > 0 && s.base+int64(ti[n-1].rel) >= s.st.next {
		return fmt.Errorf("%w: time index entry past the segment", errCorruptFile)
	}
	return nil
}

// loadSegments brings every segment to a consistent state: trusted ones are
// loaded from their indexes (their bytes are verified later, see
// verify.go), the rest (and any whose indexes fail checks) are re-validated
// batch by batch. A truncated segment ends the log: later segments are
// removed. It returns the surviving segments, or a *corruptionError for
// a batch that fails below the recovery point.
func (l *Log) loadSegments(segs []*segment, cp checkpoint, interval int64) ([]*segment, error) {
	for i, s := range segs {
		last := i == len(segs)-1
		next := int64(-1)
		if !last {
			next = segs[i+1].base
		}
		trusted := (cp.clean || !last && next <= cp.recoveryPoint) && !l.untrusted[s.base]
		if trusted {
			err := s.load(next, last, interval)
			if err == nil {
				s.verifyEnd.Store(s.st.size)
				l.loadTrustedTxnIndex(s)
				continue
			}
			if !isCorruption(err) && !errors.Is(err, errCorruptFile) {
				return nil, err
			}
			l.logger.Warn("rebuilding segment indexes", "segment", s.path(logExt), "err", err)
		}
		end := next
		if last {
			end = math.MaxInt64
		}
		dropped, err := s.recover(interval, last, cp.recoveryPoint, end)
		if err != nil {
			return nil, err
		}
		s.txnRebuild = true // from the batches: never trusted past the recovery point
		if dropped > 0 {
			l.logger.Warn("truncated corrupt segment tail", "segment", s.path(logExt), "bytes", dropped, "next_offset", s.st.next)
		}
		// Cleaned segments may end before the next one starts (their last
		// records were compacted away); a torn tail or an overlap may not.
		if !last && (s.st.next > next || dropped > 0 && s.st.next != next) {
			return l.dropAfter(segs, i)
		}
		if !last {
			s.st.next = next
		}
	}
	for _, s := range segs[:len(segs)-1] {
		s.sealTimeIndex(&s.st)
		if err := s.writeIndexes(&s.st); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

// loadTrustedTxnIndex loads the transaction index of a segment whose
// bytes are trusted. One that fails its checks (torn, or not matching the
// segment) is rebuilt from the batches. A missing file means no aborted
// transactions, as in Kafka: files are created at their first entry.
func (l *Log) loadTrustedTxnIndex(s *segment) {
	es, _, err := s.loadTxnIndex()
	if err != nil {
		l.logger.Warn("rebuilding transaction index", "segment", s.path(logExt), "err", err)
		s.txnRebuild = true
		return
	}
	s.st.aborted, s.txnOnDisk, s.txnExists = es, len(es), len(es) > 0
}

// findMissingIndexes marks for rebuilding the segments whose .index or
// .timeindex file is missing; opening a segment would create them empty.
func (l *Log) findMissingIndexes() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("read log dir: %w", err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	for _, e := range ents {
		base, ok := parseSegmentName(e.Name())
		if !ok || names[segmentName(base, indexExt)] && names[segmentName(base, timeIndexExt)] {
			continue
		}
		l.logger.Warn("rebuilding missing segment index", "segment", filepath.Join(l.dir, e.Name()))
		if l.untrusted == nil {
			l.untrusted = map[int64]bool{}
		}
		l.untrusted[base] = true
	}
	return nil
}

// openOffline finishes opening a log that cannot be served because a
// batch below the recovery point failed its checks: the log is kept,
// offline, and nothing on disk is changed, so that the operator can
// inspect and repair it. Other errors fail the open.
func (l *Log) openOffline(segs []*segment, cp checkpoint, err error) error {
	var ce *corruptionError
	if !errors.As(err, &ce) {
		return err
	}
	l.untrusted = nil
	l.mu.segments = segs
	l.mu.logStart = max(cp.logStart, segs[0].base)
	l.mu.logEnd = max(cp.recoveryPoint, l.mu.logStart)
	l.mu.recoveryPoint = cp.recoveryPoint
	l.markOffline(ce)
	return nil
}

// dropAfter removes the segments after segs[i], which no longer follow it.
func (l *Log) dropAfter(segs []*segment, i int) ([]*segment, error) {
	for _, s := range segs[i+1:] {
		l.logger.Warn("removing segment after truncated tail", "segment", s.base)
		if err := s.markRemoved(); err != nil {
			return nil, err
		}
		if err := s.unlink(); err != nil {
			return nil, fmt.Errorf("remove segment: %w", err)
		}
	}
	return segs[:i+1], nil
}

// replayProducers rebuilds producer state from the batches from offset
// from (inclusive) to the end of the log: their headers, and the record of
// each control batch. It applies what they did to transactions to u (those
// ended below hw leave it) and returns the transaction index entries of
// the ABORT markers in segments marked txnRebuild.
func (l *Log) replayProducers(p producers, segs []*segment, from int64, u *unstableTxns, hw int64) (map[*segment][]AbortedTxn, error) {
	rebuilt := map[*segment][]AbortedTxn{}
	for _, s := range segs {
		if s.st.next <= from {
			continue
		}
		r := newBatchReader(s.log, s.st.size, 64<<10)
		for pos := int64(0); pos < s.st.size; {
			h, err := r.header(pos)
			if err != nil {
				return nil, fmt.Errorf("replay producer state: %w", s.corrupt(pos, -1, err))
			}
			if h.BaseOffset >= from {
				m, err := replayMarker(r, s, pos, h)
				if err != nil {
					return nil, fmt.Errorf("replay producer state: %w", err)
				}
				ev := p.apply(h, m)
				if ev.kind == txnEnd && ev.aborted && s.txnRebuild {
					rebuilt[s] = append(rebuilt[s], abortedEntry(ev, p))
				}
				u.apply(ev, hw)
			}
			pos += int64(h.Size())
		}
	}
	return rebuilt, nil
}

// replayMarker reads the end-transaction marker of the control batch at
// pos, if it holds one.
func replayMarker(r *batchReader, s *segment, pos int64, h record.BatchHeader) (*record.EndTxnMarker, error) {
	if !h.IsControl() || h.ProducerID < 0 {
		return nil, nil
	}
	b, err := r.batch(pos, h)
	if err != nil {
		return nil, s.corrupt(pos, h.BaseOffset, err)
	}
	m, ok, err := record.ParseEndTxnMarker(b)
	if err != nil {
		return nil, s.corrupt(pos, h.BaseOffset, err)
	}
	if !ok {
		return nil, nil
	}
	return &m, nil
}

func removeLeftovers(dir string, logger *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read partition dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if hasSuffix(name, deletedExt) || hasSuffix(name, ".tmp") {
			if err := os.Remove(dir + "/" + name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove leftover: %w", err)
			}
			logger.Debug("removed leftover file", "file", name)
		}
	}
	return nil
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
