package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
	deletedExt   = ".deleted"
)

// segmentFileExts are the extensions of a segment's files, in the order
// of segment.files().
var segmentFileExts = []string{logExt, indexExt, timeIndexExt, txnIndexExt}

// segment is one <base>.log file with its two indexes and its aborted
// transaction index. The files are opened on demand through the Manager's
// fileCache; the transaction index is created at its first entry.
type segment struct {
	base            int64
	dir             string
	log, idx, tidx  *segFile
	txn             *segFile
	removed         atomic.Bool // renamed to .deleted; skip fsyncs
	dirtyIndexes    bool        // owned by the writer: index files need fsync
	bytesSinceIndex int64       // owned by the writer
	firstTs         int64       // owned by the writer: first batch's max timestamp, -1 if empty
	created         time.Time   // owned by the writer
	idxOnDisk       int         // owned by the writer: entries written to .index
	tidxOnDisk      int         // owned by the writer: entries written to .timeindex
	txnOnDisk       int         // owned by the writer: entries written to .txnindex
	txnTorn         bool        // owned by the writer: a failed write may have left bytes past txnOnDisk
	txnExists       bool        // owned by the writer: the .txnindex file was written or loaded, so fsyncs include it
	lastTimeEntryTs int64       // owned by the writer
	maxTsLastOffset int64       // owned by the writer: last offset of the batch holding maxTs
	lastEpoch       int32       // leader epoch of the last batch seen by load or the writer; read at open
	txnRebuild      bool        // owned by the opener: the transaction index is rebuilt from the batches
	firstControl    int64       // owned by the opener: offset of the first control batch recovery met, -1 if none
	st              segState    // guarded by Log.mu

	// Bytes below verifyEnd were on disk when the log was opened and had
	// not been checked; they are served only once verified (verify.go).
	// verifyEnd is set by the opener before the segment is published and
	// only lowered after, by TruncateTo cutting the segment.
	verifyEnd atomic.Int64
	vmu       struct {
		sync.Mutex
		to   int64 // bytes below are verified; only grows
		next int64 // offset after the batch ending at to (0: the base)
	}
}

// segState is what readers see, guarded by Log.mu and changed only by the
// writer (or the opener before the log is published).
type segState struct {
	size   int64 // committed bytes; readers never look beyond
	next   int64 // offset after the last committed batch
	maxTs  int64 // largest batch max timestamp, -1 if none
	index  []indexEntry
	tindex []timeEntry
	// aborted is the segment's transaction index: the ABORT markers it
	// holds, in offset order. Appended to, never changed in place.
	aborted []AbortedTxn
}

func segmentName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

func (s *segment) path(ext string) string { return filepath.Join(s.dir, segmentName(s.base, ext)) }

// parseSegmentName returns the base offset of a "<20 digits>.log" name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, logExt)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// openSegment opens (creating if needed) the files of the segment at base
// and hands them to the cache, which closes them when they go idle. With
// truncate, existing files are emptied (a fresh roll); without, missing
// index files read as empty until their first write creates them, so an
// open creates nothing.
func openSegment(c *fileCache, dir string, base int64, truncate bool) (*segment, error) {
	s := newSegment(c, dir, base, "")
	flags := os.O_RDWR | os.O_CREATE
	files := s.files()[:3]
	if truncate {
		flags |= os.O_TRUNC
		// A fresh segment has no aborted transactions; a file left at
		// this base (a crash part way through removing a segment) would
		// be taken for its index.
		if err := os.Remove(s.path(txnIndexExt)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open segment: %w", err)
		}
	} else {
		s.idx.create, s.tidx.create = true, true
		files = files[:1]
	}
	for _, sf := range files {
		f, err := c.open(sf.Name(), flags)
		if err != nil {
			s.close()
			if truncate { // a fresh segment: leave no empty file behind
				_ = removeSegmentFiles(s)
			}
			return nil, fmt.Errorf("open segment: %w", err)
		}
		sf.adopt(f)
	}
	return s, nil
}

// newSegment returns the segment at base, its files named with suffix
// after their extension, none of them open.
func newSegment(c *fileCache, dir string, base int64, suffix string) *segment {
	s := &segment{base: base, dir: dir, firstTs: -1, created: time.Now(), lastTimeEntryTs: -1, maxTsLastOffset: -1, firstControl: -1}
	s.st.next, s.st.maxTs = base, -1
	s.log = newSegFile(c, s.path(logExt)+suffix)
	s.idx = newSegFile(c, s.path(indexExt)+suffix)
	s.tidx = newSegFile(c, s.path(timeIndexExt)+suffix)
	s.txn = newSegFile(c, s.path(txnIndexExt)+suffix)
	s.txn.create = true // at its first entry
	return s
}

// files returns the segment's files, in the order of segmentFileExts.
func (s *segment) files() []*segFile { return []*segFile{s.log, s.idx, s.tidx, s.txn} }

// chunk pins the log file and returns the byte range of it as a Chunk.
func (s *segment) chunk(pos, n int64) (Chunk, error) {
	f, err := s.log.pin(false)
	if err != nil {
		return Chunk{}, fmt.Errorf("open segment %d: %w", s.base, err)
	}
	return Chunk{File: f, Pos: pos, Len: n, pinned: s.log}, nil
}

func (s *segment) close() error {
	var first error
	for _, f := range s.files() {
		if f != nil {
			if err := f.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// sync fsyncs the log file and, when they changed since, the indexes.
func (s *segment) sync() error {
	if s.removed.Load() {
		return nil
	}
	files := s.files()[:1]
	if s.dirtyIndexes {
		files = s.files()[:3]
		if s.txnExists || s.txnTorn {
			files = s.files()
		}
	}
	for _, f := range files {
		if err := syncFile(f); err != nil {
			if s.removed.Load() && errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	s.dirtyIndexes = false
	return nil
}

// markRemoved renames the files to .deleted so a restart never sees them;
// readers holding the segment still open them there until unlink.
func (s *segment) markRemoved() error {
	s.removed.Store(true)
	for i, ext := range segmentFileExts {
		if err := s.files()[i].rename(s.path(ext) + deletedExt); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rename segment: %w", err)
		}
	}
	return nil
}

// unlink closes the descriptors and removes the .deleted files.
func (s *segment) unlink() error {
	err := s.close()
	for _, ext := range segmentFileExts {
		if rerr := os.Remove(s.path(ext) + deletedExt); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// rel returns off relative to the base, or false if it does not fit the
// index's uint32 column.
func (s *segment) rel(off int64) (uint32, bool) {
	d := off - s.base
	return uint32(d), d >= 0 && d <= math.MaxUint32
}

// addBatch updates the writer-owned indexing state for a batch written at
// pos and returns the index entries it produces. st is updated in place.
func (s *segment) addBatch(st *segState, h record.BatchHeader, pos int64, interval int64) {
	rel, _ := s.rel(h.LastOffset())
	if h.MaxTimestamp > st.maxTs {
		st.maxTs, s.maxTsLastOffset = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndex > interval {
		st.index = append(st.index, indexEntry{rel: rel, pos: uint32(pos)})
		if st.maxTs > s.lastTimeEntryTs {
			st.tindex = append(st.tindex, timeEntry{ts: st.maxTs, rel: rel})
			s.lastTimeEntryTs = st.maxTs
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	s.lastEpoch = h.PartitionLeaderEpoch
	if s.firstTs < 0 && st.size == 0 {
		s.firstTs = h.MaxTimestamp
	}
	st.size = pos + int64(h.Size())
	st.next = h.LastOffset() + 1
}

// sealTimeIndex adds the entry for the segment's largest timestamp, so
// that the time index alone tells an inactive segment's max timestamp.
func (s *segment) sealTimeIndex(st *segState) {
	if st.maxTs > s.lastTimeEntryTs && s.maxTsLastOffset >= s.base {
		rel, _ := s.rel(s.maxTsLastOffset)
		if n := len(st.tindex); n > 0 && st.tindex[n-1].rel > rel {
			rel = st.tindex[n-1].rel
		}
		st.tindex = append(st.tindex, timeEntry{ts: st.maxTs, rel: rel})
		s.lastTimeEntryTs = st.maxTs
	}
}

// writeIndexes appends index entries not yet on disk.
func (s *segment) writeIndexes(st *segState) error {
	if n := len(st.index); n > s.idxOnDisk {
		b := appendIndexEntries(nil, st.index[s.idxOnDisk:])
		if err := writeAt(opIndexWrite, s.idx, b, int64(s.idxOnDisk)*indexEntrySize); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		s.idxOnDisk, s.dirtyIndexes = n, true
	}
	if n := len(st.tindex); n > s.tidxOnDisk {
		b := appendTimeEntries(nil, st.tindex[s.tidxOnDisk:])
		if err := writeAt(opIndexWrite, s.tidx, b, int64(s.tidxOnDisk)*timeIndexEntrySize); err != nil {
			return fmt.Errorf("write time index: %w", err)
		}
		s.tidxOnDisk, s.dirtyIndexes = n, true
	}
	return s.writeTxnIndex(st)
}

// batchReader reads headers and batches of a segment file through a small
// window, so scanning many small batches costs few syscalls.
type batchReader struct {
	f      fileReader
	limit  int64 // never read at or beyond
	window int
	buf    []byte
	bufPos int64
	keys   *Keyring // decrypts encrypted batches; nil: encryption off
	plain  []byte   // batch decrypts into it
}

// fileReader is a file read by position: *os.File or *segFile.
type fileReader interface {
	io.ReaderAt
	Name() string
}

func newBatchReader(f fileReader, limit int64, window int) *batchReader {
	r := &batchReader{f: f, limit: limit, window: window, bufPos: -1}
	if sf, ok := f.(*segFile); ok {
		r.keys = sf.c.keys
	}
	return r
}

// batch reads the batch at pos whose stored header is h and returns it as
// on the wire: decrypted, with its header restored, if it is stored
// encrypted. The bytes are valid until the next call; callers that need
// the wire header parse (or validate) them, and advance by h.Size().
func (r *batchReader) batch(pos int64, h record.BatchHeader) ([]byte, error) {
	b, err := r.read(pos, h.Size())
	if err != nil || !isEncrypted(h) {
		return b, err
	}
	r.plain, err = r.keys.open(r.plain[:0], b)
	return r.plain, err
}

// read returns n bytes at pos, valid until the next call.
func (r *batchReader) read(pos int64, n int) ([]byte, error) {
	if pos < 0 || int64(n) > r.limit-pos {
		return nil, io.ErrUnexpectedEOF
	}
	if r.bufPos >= 0 && pos >= r.bufPos && pos+int64(n) <= r.bufPos+int64(len(r.buf)) {
		off := pos - r.bufPos
		return r.buf[off : off+int64(n)], nil
	}
	want := int(min(int64(max(n, r.window)), r.limit-pos))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if _, err := r.f.ReadAt(r.buf, pos); err != nil {
		r.bufPos = -1
		return nil, fmt.Errorf("read %s at %d: %w", r.f.Name(), pos, err)
	}
	r.bufPos = pos
	return r.buf[:n], nil
}

// header reads and bounds-checks the batch header at pos.
func (r *batchReader) header(pos int64) (record.BatchHeader, error) {
	b, err := r.read(pos, record.HeaderSize)
	if err != nil {
		return record.BatchHeader{}, err
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Length < record.HeaderSize-12 || int64(h.Size()) > r.limit-pos {
		return h, fmt.Errorf("%w: batch at %d of %d bytes overruns the segment", record.ErrInvalid, pos, h.Size())
	}
	return h, nil
}
