package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

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
// cleaned batches and gaps are accepted.
func (s *segment) recover(interval int64, contiguous bool) (int64, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	s.resetIndexing()
	r := newBatchReader(s.log, fi.Size(), scanWindow)
	for s.st.size < fi.Size() {
		h, err := s.readValid(r, s.st.size, contiguous)
		if err != nil && !isCorruption(err) {
			return 0, err
		}
		if err != nil {
			break
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
func (s *segment) readValid(r *batchReader, pos int64, contiguous bool) (record.BatchHeader, error) {
	h, err := r.header(pos)
	if err != nil {
		return h, err
	}
	b, err := r.read(pos, h.Size())
	if err != nil {
		return h, err
	}
	validate := record.ValidateStored
	if contiguous {
		validate = record.Validate
	}
	if h, err = validate(b); err != nil {
		return h, err
	}
	if h.BaseOffset < s.st.next || contiguous && h.BaseOffset != s.st.next {
		return h, fmt.Errorf("%w: batch at %d has offset %d, expected at least %d", record.ErrInvalid, pos, h.BaseOffset, s.st.next)
	}
	if _, ok := s.rel(h.LastOffset()); !ok || pos > int64(^uint32(0)) {
		return h, fmt.Errorf("%w: batch at %d does not fit the segment", record.ErrInvalid, pos)
	}
	return h, nil
}

func (s *segment) resetIndexing() {
	s.st = segState{next: s.base, maxTs: -1}
	s.bytesSinceIndex, s.firstTs, s.lastTimeEntryTs, s.maxTsLastOffset = 0, -1, -1, -1
	s.idxOnDisk, s.tidxOnDisk = 0, 0
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
// checking them against the log. With tail, it also scans the headers after
// the last index entry to find the end (the active segment).
func (s *segment) load(next int64, tail bool) error {
	fi, err := s.log.Stat()
	if err != nil {
		return fmt.Errorf("stat segment: %w", err)
	}
	s.resetIndexing()
	if err := s.loadIndexFiles(fi.Size()); err != nil {
		return err
	}
	s.st.size, s.st.next = fi.Size(), next
	if !tail {
		return nil
	}
	return s.scanTail()
}

func (s *segment) loadIndexFiles(size int64) error {
	ib, err := io.ReadAll(io.NewSectionReader(s.idx, 0, 1<<31))
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	tb, err := io.ReadAll(io.NewSectionReader(s.tidx, 0, 1<<31))
	if err != nil {
		return fmt.Errorf("read time index: %w", err)
	}
	if s.st.index, err = decodeIndex(ib, size); err != nil {
		return err
	}
	if s.st.tindex, err = decodeTimeIndex(tb); err != nil {
		return err
	}
	if n := len(s.st.index); n > 0 {
		e := s.st.index[n-1]
		h, err := newBatchReader(s.log, size, record.HeaderSize).header(int64(e.pos))
		if err != nil || h.LastOffset() != s.base+int64(e.rel) {
			return fmt.Errorf("%w: last index entry does not match the log", errCorruptFile)
		}
	}
	if n := len(s.st.tindex); n > 0 {
		s.st.maxTs, s.lastTimeEntryTs = s.st.tindex[n-1].ts, s.st.tindex[n-1].ts
		s.maxTsLastOffset = s.base + int64(s.st.tindex[n-1].rel)
	}
	s.idxOnDisk, s.tidxOnDisk = len(s.st.index), len(s.st.tindex)
	return nil
}

// scanTail walks headers from the last index entry to the end of the file,
// restoring the end offset and the writer's indexing state.
func (s *segment) scanTail() error {
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
		// Only the active segment has a tail to scan, and the cleaner never
		// touches it: its offsets are contiguous.
		if first && pos == 0 && h.BaseOffset != s.base || !first && h.BaseOffset != next {
			return fmt.Errorf("%w: offsets do not follow at %d", errCorruptFile, pos)
		}
		if h.MaxTimestamp > s.st.maxTs {
			s.st.maxTs, s.maxTsLastOffset = h.MaxTimestamp, h.LastOffset()
		}
		s.bytesSinceIndex += int64(h.Size())
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

// loadSegments brings every segment to a consistent state: trusted ones are
// loaded from their indexes, the rest (and any whose indexes fail checks)
// are re-validated batch by batch. A truncated segment ends the log: later
// segments are removed. It returns the surviving segments.
func (l *Log) loadSegments(segs []*segment, cp checkpoint, interval int64) ([]*segment, error) {
	for i, s := range segs {
		last := i == len(segs)-1
		next := int64(-1)
		if !last {
			next = segs[i+1].base
		}
		trusted := (cp.clean || !last && next <= cp.recoveryPoint) && !l.untrusted[s.base]
		if trusted {
			err := s.load(next, last)
			if err == nil {
				continue
			}
			if !isCorruption(err) && !errors.Is(err, errCorruptFile) {
				return nil, err
			}
			l.logger.Warn("rebuilding segment indexes", "segment", s.base, "err", err)
		}
		dropped, err := s.recover(interval, last)
		if err != nil {
			return nil, err
		}
		if dropped > 0 {
			l.logger.Warn("truncated corrupt segment tail", "segment", s.base, "bytes", dropped, "next_offset", s.st.next)
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

// replayProducers rebuilds idempotence state from batch headers from offset
// from (inclusive) to the end of the log.
func (l *Log) replayProducers(p producers, segs []*segment, from int64) error {
	for _, s := range segs {
		if s.st.next <= from {
			continue
		}
		r := newBatchReader(s.log, s.st.size, 64<<10)
		for pos := int64(0); pos < s.st.size; {
			h, err := r.header(pos)
			if err != nil {
				return fmt.Errorf("replay producer state: %w", err)
			}
			if h.BaseOffset >= from {
				p.apply(h)
			}
			pos += int64(h.Size())
		}
	}
	return nil
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
