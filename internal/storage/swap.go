package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// The cleaner replaces segments the way Kafka does, so that a crash at any
// point leaves either the old segments or the new one:
//
//  1. write <base>.{log,index,timeindex}.cleaned and <base>.swapinfo.cleaned
//     (the end of the replaced range) and fsync them;
//  2. rename them to .swap (the log last) and fsync the dir;
//  3. rename the old segments to .deleted;
//  4. rename the .swap files to their final names (the log last), remove
//     the .swapinfo.swap.
//
// On open, .cleaned files are removed (rolling back), and a .log.swap
// completes its swap: old segments whose base falls in the range its
// swapinfo names are removed and the .swap files renamed. See
// docs/compaction.md.
const (
	cleanedExt = ".cleaned"
	swapExt    = ".swap"
	// swapInfoExt names the file that records the end of the offset range
	// a cleaned segment replaces: its own records may end earlier.
	swapInfoExt = ".swapinfo"
)

// Steps of a swap, passed to Config.swapHook after each completes.
const (
	stepCleaned = "cleaned" // new files written and fsynced
	stepSwap    = "swap"    // renamed to .swap
	stepDeleted = "deleted" // old segments renamed to .deleted
	stepRenamed = "renamed" // .swap renamed to final names
)

var (
	segmentExts = []string{indexExt, timeIndexExt, txnIndexExt, logExt}              // the log last
	swapExts    = []string{swapInfoExt, indexExt, timeIndexExt, txnIndexExt, logExt} // the log last
)

// createCleanedSegment creates the empty ".cleaned" files of a segment.
// Its files are renamed through the segment (renameExts), so the segment is
// usable after the swap under its final name.
func createCleanedSegment(c *fileCache, dir string, base int64) (*segment, error) {
	s := newSegment(c, dir, base, cleanedExt)
	for _, sf := range s.files() {
		f, err := c.open(sf.Name(), os.O_RDWR|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			discardCleaned(s)
			return nil, fmt.Errorf("create cleaned segment: %w", err)
		}
		sf.adopt(f)
	}
	return s, nil
}

// discardCleaned closes and removes a cleaned segment that is not swapped
// in.
func discardCleaned(s *segment) {
	s.close()
	for _, ext := range swapExts {
		_ = os.Remove(s.path(ext) + cleanedExt)
	}
}

// writeSwapInfo records, beside a cleaned segment, the offset where the
// range it replaces ends: the base of the segment after its group.
func writeSwapInfo(s *segment, end int64) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(end))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	f, err := os.OpenFile(s.path(swapInfoExt)+cleanedExt, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write swap info: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write swap info: %w", err)
	}
	return nil
}

// readSwapInfo returns the end offset a swap info file records.
func readSwapInfo(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) != 12 || crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		return 0, fmt.Errorf("%w: swap info", errCorruptFile)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// swapIn replaces the segments old (contiguous, none active) by ns, unless
// the log was truncated since the cleaning was planned (truncations).
func (l *Log) swapIn(old []*segment, ns *segment, truncations uint64) error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if err := l.closedErr(); err != nil {
		discardCleaned(ns)
		return err
	}
	if !l.holdsSegments(old, truncations) {
		discardCleaned(ns)
		return errCleanAborted
	}
	if err := l.markUnclean(); err != nil {
		discardCleaned(ns)
		return err
	}
	if err := l.swapFiles(old, ns); err != nil {
		return err
	}
	l.mu.Lock()
	segs := l.mu.segments
	i := slices.Index(segs, old[0])
	next := slices.Concat(segs[:i], []*segment{ns}, segs[i+len(old):])
	l.mu.segments = next
	delay := l.mu.cfg.FileDeleteDelayMs
	l.mu.Unlock()
	l.m.deleter.schedule(old, time.Duration(delay)*time.Millisecond)
	return nil
}

// holdsSegments says whether old is still a run of closed segments, not
// cut by a truncation since.
func (l *Log) holdsSegments(old []*segment, truncations uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.truncatedAfterLocked(truncations) {
		return false
	}
	segs := l.mu.segments
	i := slices.Index(segs, old[0])
	return i >= 0 && i+len(old) < len(segs) && slices.Equal(segs[i:i+len(old)], old)
}

// swapFiles runs steps 2-4 of the swap on disk.
func (l *Log) swapFiles(old []*segment, ns *segment) error {
	step := func(name string) error {
		if h := l.m.cfg.swapHook; h != nil {
			return h(name)
		}
		return nil
	}
	if err := step(stepCleaned); err != nil {
		return err
	}
	if err := renameExts(ns, cleanedExt, swapExt, true); err != nil {
		return err
	}
	if err := step(stepSwap); err != nil {
		return err
	}
	// Steps 3 and 4 need no fsync of their own: if a crash loses them the
	// .swap files come back and open completes the swap again. The cleaner
	// checkpoint written at the end of the run syncs the directory.
	for _, s := range old {
		if err := s.markRemoved(); err != nil {
			return err
		}
	}
	if err := step(stepDeleted); err != nil {
		return err
	}
	if err := renameExts(ns, swapExt, "", false); err != nil {
		return err
	}
	if err := step(stepRenamed); err != nil {
		return err
	}
	if err := os.Remove(ns.path(swapInfoExt)); err != nil {
		return fmt.Errorf("remove swap info: %w", err)
	}
	return nil
}

// renameExts renames the segment's files (and swap info) from suffix from
// to suffix to, the log last, and, with sync, fsyncs the directory.
func renameExts(s *segment, from, to string, sync bool) error {
	files := map[string]*segFile{logExt: s.log, indexExt: s.idx, timeIndexExt: s.tidx, txnIndexExt: s.txn}
	for _, ext := range swapExts {
		var err error
		if sf := files[ext]; sf != nil {
			err = sf.rename(s.path(ext) + to)
		} else {
			err = os.Rename(s.path(ext)+from, s.path(ext)+to)
		}
		if err != nil {
			return fmt.Errorf("swap cleaned segment: %w", err)
		}
	}
	if !sync {
		return nil
	}
	return atomicfile.SyncDir(s.dir)
}

// recoverSwaps rolls back cleanings that did not reach step 2 and
// completes those that did. It returns the bases of completed swap
// segments, which recovery must re-validate.
func recoverSwaps(dir string, logger *slog.Logger) (map[int64]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read partition dir: %w", err)
	}
	var logSwaps []int64
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedExt):
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("remove cleaned file: %w", err)
			}
			logger.Info("rolled back unfinished cleaning", "file", name)
		case strings.HasSuffix(name, logExt+swapExt):
			if b, ok := parseSegmentName(strings.TrimSuffix(name, swapExt)); ok {
				logSwaps = append(logSwaps, b)
			}
		}
		if b, ok := parseSegmentName(name); ok {
			bases = append(bases, b)
		}
	}
	done := map[int64]bool{}
	for _, b := range logSwaps {
		if err := completeSwap(dir, b, bases, logger); err != nil {
			return nil, err
		}
		done[b] = true
	}
	if err := removeStraySwaps(dir, done); err != nil {
		return nil, err
	}
	if len(logSwaps) > 0 {
		return done, atomicfile.SyncDir(dir)
	}
	return done, nil
}

// completeSwap finishes the swap of the segment at base: the old segments
// the swap segment covers go, then the .swap files take their names.
func completeSwap(dir string, base int64, bases []int64, logger *slog.Logger) error {
	s := &segment{base: base, dir: dir}
	end, err := readSwapInfo(s.path(swapInfoExt) + swapExt)
	if err != nil {
		// Unreadable only through disk damage: fall back on the records,
		// which may leave old segments holding superseded records only.
		logger.Warn("swap info unreadable; using the swap segment's last offset", "segment", base, "err", err)
		if end, err = swapEnd(s.path(logExt) + swapExt); err != nil {
			return err
		}
	}
	for _, b := range bases {
		if b > base && b < end {
			if err := removeSegmentFiles(&segment{base: b, dir: dir}); err != nil {
				return err
			}
		}
	}
	for _, ext := range segmentExts {
		err := os.Rename(s.path(ext)+swapExt, s.path(ext))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("complete swap: %w", err)
		}
	}
	if err := os.Remove(s.path(swapInfoExt) + swapExt); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("complete swap: %w", err)
	}
	logger.Info("completed interrupted segment swap", "segment", base, "covers_to", end)
	return nil
}

// swapEnd returns the offset after the last valid batch of a swap file
// (base+1 if it holds none, so that only its own base is replaced).
func swapEnd(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open swap segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat swap segment: %w", err)
	}
	base, _ := parseSegmentName(strings.TrimSuffix(filepath.Base(path), swapExt))
	end := base + 1
	r := newBatchReader(f, fi.Size(), 64<<10)
	for pos := int64(0); pos < fi.Size(); {
		h, err := r.header(pos)
		if err != nil {
			break // fsynced before step 2: only disk damage gets here
		}
		end = max(end, h.LastOffset()+1)
		pos += int64(h.Size())
	}
	return end, nil
}

// removeStraySwaps removes index .swap files whose log was not renamed
// yet when a crash interrupted step 2: that cleaning is rolled back.
func removeStraySwaps(dir string, done map[int64]bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read partition dir: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), swapExt)
		if !ok {
			continue
		}
		digits, _, _ := strings.Cut(name, ".")
		if b, ok := parseSegmentName(digits + logExt); ok && done[b] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stray swap file: %w", err)
		}
	}
	return nil
}

const (
	cleanerCheckpointFile    = "cleaner.checkpoint"
	cleanerCheckpointMagic   = "EDCC"
	cleanerCheckpointVersion = 1
	cleanerCheckpointSize    = 20
)

// encodeCleanerCheckpoint serializes the first dirty offset (see
// docs/format/segment.md).
func encodeCleanerCheckpoint(off int64) []byte {
	b := append(make([]byte, 0, cleanerCheckpointSize), cleanerCheckpointMagic...)
	b = binary.BigEndian.AppendUint16(b, cleanerCheckpointVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCleanerCheckpoint(b []byte) (int64, error) {
	be := binary.BigEndian
	if len(b) != cleanerCheckpointSize || string(b[:4]) != cleanerCheckpointMagic {
		return 0, fmt.Errorf("%w: cleaner checkpoint of %d bytes", errCorruptFile, len(b))
	}
	if crc32.Checksum(b[:16], castagnoli) != be.Uint32(b[16:]) {
		return 0, fmt.Errorf("%w: cleaner checkpoint crc", errCorruptFile)
	}
	if v := be.Uint16(b[4:]); v != cleanerCheckpointVersion {
		return 0, fmt.Errorf("%w: cleaner checkpoint version %d", errCorruptFile, v)
	}
	return int64(be.Uint64(b[8:])), nil
}

// readCleanedTo returns the persisted first dirty offset, 0 if none.
func (l *Log) readCleanedTo() int64 {
	b, err := os.ReadFile(filepath.Join(l.dir, cleanerCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	off, derr := decodeCleanerCheckpoint(b)
	if err != nil || derr != nil {
		l.logger.Warn("ignoring unreadable cleaner checkpoint; the whole log counts as dirty", "err", errors.Join(err, derr))
		return 0
	}
	return off
}

// setCleanedTo persists and publishes the first dirty offset, unless the
// log was truncated since the cleaning was planned (truncations).
func (l *Log) setCleanedTo(off int64, truncations uint64) error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if err := l.closedErr(); err != nil {
		return err
	}
	if l.truncatedAfter(truncations) {
		return errCleanAborted
	}
	if err := l.writeCleanedTo(off); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.cleanedTo = off
	l.mu.Unlock()
	return nil
}

// lowerCleanedTo lowers the first dirty offset to off if it is above, on
// disk before in memory, because the batches from off on are about to be
// cut and replaced: a checkpoint left above would count the new ones as
// cleaned after a reopen, and the cleaner would never compact them. Done
// before the cut, a crash leaves either the old log with a lower
// checkpoint, which only costs a cleaning of already clean segments, or
// the cut log with one at or below its end. The caller holds adminMu (or
// owns the log, while opening), so no setCleanedTo interleaves.
func (l *Log) lowerCleanedTo(off int64) error {
	l.mu.RLock()
	cur := l.mu.cleanedTo
	l.mu.RUnlock()
	if cur <= off {
		return nil
	}
	if err := l.writeCleanedTo(off); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.cleanedTo = min(l.mu.cleanedTo, off)
	l.mu.Unlock()
	return nil
}

// writeCleanedTo replaces the cleaner checkpoint, durably.
func (l *Log) writeCleanedTo(off int64) error {
	if err := replaceFile(opCheckpoint, l.dir, cleanerCheckpointFile, encodeCleanerCheckpoint(off)); err != nil {
		return fmt.Errorf("persist cleaner checkpoint: %w", err)
	}
	return nil
}
