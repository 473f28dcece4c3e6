package storage

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/eddy-streaming/eddy/internal/record"
)

// DefaultVerifyBytesPerSecond is the background verifier's default rate
// (eddy.log.verify.bytes.per.second).
const DefaultVerifyBytesPerSecond = 64 << 20

// verifyStep is how much the background verifier checks between throttle
// reservations.
const verifyStep = 1 << 20

// corruptionError locates a batch that failed its checks on disk.
type corruptionError struct {
	file   string
	pos    int64 // file position of the batch
	offset int64 // its (expected) base offset, -1 if unknown
	err    error
}

func (e *corruptionError) Error() string {
	return fmt.Sprintf("corrupt batch in %s at position %d (offset %d): %v", e.file, e.pos, e.offset, e.err)
}

func (e *corruptionError) Unwrap() error { return e.err }

// corrupt locates err at pos of s when it is corruption; I/O errors are
// returned as they are.
func (s *segment) corrupt(pos, offset int64, err error) error {
	var ce *corruptionError
	if err == nil || !isCorruption(err) || errors.As(err, &ce) {
		return err
	}
	return &corruptionError{file: s.path(logExt), pos: pos, offset: offset, err: err}
}

// verifyBatches checks the batches from position from on, while before to
// and until limit bytes are checked, and returns the position reached and
// the offset after the last batch checked. Each batch must pass what
// recovery checks: bounded length, magic 2, CRC, record framing, the leader
// epoch the epoch cache gives its offsets (el.check) and offsets increasing from minBase
// and below end. The CRC does not cover the base offset; these offset
// checks do.
func (s *segment) verifyBatches(r *batchReader, from, to, limit, minBase, end int64, el epochList) (int64, int64, error) {
	pos, next := from, max(minBase, s.base)
	for pos < to && pos-from < limit {
		h, err := verifyBatch(r, pos, next, end, el)
		if err != nil {
			return pos, next, s.corrupt(pos, next, err)
		}
		pos, next = pos+int64(h.Size()), h.LastOffset()+1
	}
	return pos, next, nil
}

func verifyBatch(r *batchReader, pos, from, end int64, el epochList) (record.BatchHeader, error) {
	h, err := r.header(pos)
	if err != nil {
		return h, err
	}
	b, err := r.batch(pos, h)
	if err != nil {
		return h, err
	}
	if _, err = record.ValidateStored(b); err != nil {
		return h, err
	}
	if err := el.check(h.BaseOffset, h.PartitionLeaderEpoch); err != nil {
		return h, err
	}
	if h.BaseOffset < from || h.LastOffset() >= end {
		return h, fmt.Errorf("%w: offsets %d..%d outside [%d, %d)", record.ErrInvalid, h.BaseOffset, h.LastOffset(), from, end)
	}
	return h, nil
}

// verifiedPrefix returns how far the segment is verified and the offset
// after that point.
func (s *segment) verifiedPrefix() (int64, int64) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	return s.vmu.to, max(s.vmu.next, s.base)
}

func (s *segment) advanceVerified(pos, next int64) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if pos > s.vmu.to {
		s.vmu.to, s.vmu.next = pos, next
	}
}

// checkServe verifies the part of [from, to) (whole batches; minBase is
// the lowest base offset the first may have) that was on disk at open and
// is not yet verified, before a reader serves it, and the batch after it,
// whose base offset bounds the last one's. Reading the bytes once costs
// little: the page cache then serves the sendfile. Ranges that extend the
// verified prefix advance it; others are checked each time they are
// served until the background verifier reaches them.
func (s *segment) checkServe(st segState, from, to, minBase int64, el epochList) error {
	verifyEnd := s.verifyEnd.Load()
	if from >= verifyEnd {
		return nil // appended by this process: the common case, lock-free
	}
	done, doneNext := s.verifiedPrefix()
	end := min(to, verifyEnd)
	if end <= max(from, done) {
		return nil
	}
	start := from
	if from <= done {
		start, minBase = done, doneNext
	}
	r := newBatchReader(s.log, verifyEnd, int(min(end-start, scanWindow)))
	reached, next, err := s.verifyBatches(r, start, end, math.MaxInt64, minBase, st.next, el)
	if err == nil && reached < verifyEnd {
		// A view bounded below the segment's end (a read to the last
		// stable offset or the high watermark) ends at reached: the batch
		// after lies past its st.next, so only its base offset is checked.
		end := st.next
		if reached >= st.size {
			end = math.MaxInt64
		}
		_, _, err = s.verifyBatches(r, reached, reached+1, 1, next, end, el)
	}
	if err != nil {
		return err
	}
	if start == done {
		s.advanceVerified(reached, next)
	}
	return nil
}

// verifyInBackground checks, at a bounded rate, what every log opened by
// Open had on disk, so that corruption in data nobody reads is found too.
// It ends when everything is verified or the Manager closes.
func (m *Manager) verifyInBackground(ctx context.Context, rate float64) {
	defer m.wg.Done()
	t := newThrottle(rate)
	for _, l := range m.logs() {
		if ctx.Err() != nil {
			return
		}
		if err := l.verifyAll(ctx, t); err != nil && ctx.Err() == nil {
			l.logger.Warn("background verification stopped", "err", err)
		}
	}
}

// verifyAll verifies the unverified bytes of every segment of the log.
func (l *Log) verifyAll(ctx context.Context, t *throttle) error {
	v, _ := l.snapshot(math.MinInt64)
	for i, s := range v.segs {
		for l.Offline() == nil {
			from, minBase := s.verifiedPrefix()
			verifyEnd := s.verifyEnd.Load()
			if from >= verifyEnd || s.removed.Load() || l.closedErr() != nil || l.truncatedSince(v) {
				break
			}
			if err := t.wait(ctx, verifyStep); err != nil {
				return err
			}
			r := newBatchReader(s.log, verifyEnd, int(min(verifyEnd-from, scanWindow)))
			reached, next, err := s.verifyBatches(r, from, verifyEnd, verifyStep, minBase, v.sts[i].next, v.epochs)
			if err != nil {
				return l.readFailed(v, err)
			}
			s.advanceVerified(reached, next)
		}
	}
	return nil
}

// failRead takes the log offline when err is corruption and returns the
// error to report.
func (l *Log) failRead(err error) error {
	var ce *corruptionError
	if !errors.As(err, &ce) {
		return fmt.Errorf("read %s: %w", partitionDirName(l.topic, l.partition), err)
	}
	return l.markOffline(ce)
}

// markOffline makes the log refuse reads and writes from now on: a batch
// that was acknowledged (below the recovery point, or read back after
// open) fails its checks. Without replicas to restore it from, truncating
// would silently drop acknowledged records, so Eddy stops serving the
// partition and says loudly where the damage is; docs/format/segment.md
// tells the operator how to repair it. Other partitions are unaffected.
func (l *Log) markOffline(ce *corruptionError) error {
	// offlineMu orders the loud log line before the state change, so no
	// client sees the partition refuse before the operator can read why.
	l.offlineMu.Lock()
	defer l.offlineMu.Unlock()
	if err := l.Offline(); err != nil {
		return err
	}
	l.logger.Error("corrupt batch on disk; partition offline", "segment", ce.file,
		"position", ce.pos, "offset", ce.offset, "err", ce.err)
	// The cause is not wrapped: the partition's error is a storage error
	// (KAFKA_STORAGE_ERROR), not a rejected request.
	err := fmt.Errorf("%w: %w: log %s is offline: %v", ErrStorage, ErrLogCorrupt, partitionDirName(l.topic, l.partition), ce)
	l.mu.Lock()
	l.mu.offline = err
	l.mu.Unlock()
	return err
}

// Offline returns why the log was taken offline, or nil. A log goes
// offline when a batch that was acknowledged fails its checks on disk; it
// then refuses reads, appends and DeleteRecords with an ErrStorage error
// (KAFKA_STORAGE_ERROR) until the damage is repaired and the node
// restarted.
func (l *Log) Offline() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.offline
}
