package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// The aborted-transaction index (.txnindex), in Kafka's layout: one entry
// per ABORT marker of a transaction that wrote data, kept with the segment
// holding the marker. See docs/format/txnindex.md.
const (
	txnIndexExt       = ".txnindex"
	txnEntrySize      = 2 + 8 + 8 + 8 + 8 // version, producer id, first, last, last stable offset
	txnEntryVersion   = 0
	maxTxnIndexLength = 1 << 31 // bounds what one file may make us allocate
)

// AbortedTxn is one entry of the aborted-transaction index: producer
// ProducerID's transaction from FirstOffset was aborted by the marker at
// LastOffset, when the log's last stable offset (had the transaction
// completed) was LastStableOffset. A read_committed consumer skips that
// producer's transactional batches in [FirstOffset, LastOffset].
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func appendTxnEntries(dst []byte, es []AbortedTxn) []byte {
	be := binary.BigEndian
	for _, e := range es {
		dst = be.AppendUint16(dst, txnEntryVersion)
		dst = be.AppendUint64(dst, uint64(e.ProducerID))
		dst = be.AppendUint64(dst, uint64(e.FirstOffset))
		dst = be.AppendUint64(dst, uint64(e.LastOffset))
		dst = be.AppendUint64(dst, uint64(e.LastStableOffset))
	}
	return dst
}

// decodeTxnIndex parses a transaction index and checks each entry against
// the offsets [base, next) of its segment: version 0, a producer id, a
// marker inside the segment after the transaction's first offset, markers
// strictly increasing, and a last stable offset not past the marker + 1.
// A torn tail fails like any other damage: the caller rebuilds.
func decodeTxnIndex(b []byte, base, next int64) ([]AbortedTxn, error) {
	if len(b)%txnEntrySize != 0 {
		return nil, fmt.Errorf("%w: transaction index of %d bytes", errCorruptFile, len(b))
	}
	be := binary.BigEndian
	es := make([]AbortedTxn, len(b)/txnEntrySize)
	for i := range es {
		r := b[i*txnEntrySize:]
		e := AbortedTxn{int64(be.Uint64(r[2:])), int64(be.Uint64(r[10:])), int64(be.Uint64(r[18:])), int64(be.Uint64(r[26:]))}
		switch {
		case be.Uint16(r) != txnEntryVersion:
			return nil, fmt.Errorf("%w: transaction index entry %d has version %d", errCorruptFile, i, be.Uint16(r))
		case e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.LastOffset < base || e.LastOffset >= next,
			e.LastStableOffset < 0 || e.LastStableOffset > e.LastOffset+1, i > 0 && e.LastOffset <= es[i-1].LastOffset:
			return nil, fmt.Errorf("%w: transaction index entry %d %+v does not fit segment [%d, %d)", errCorruptFile, i, e, base, next)
		}
		es[i] = e
	}
	return es, nil
}

// loadTxnIndex reads and checks the segment's transaction index; a file
// never created reads as empty (exists false).
func (s *segment) loadTxnIndex() (es []AbortedTxn, exists bool, err error) {
	if _, err := s.txn.Stat(); errors.Is(err, errNotCreated) || errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	b, err := io.ReadAll(io.NewSectionReader(s.txn, 0, maxTxnIndexLength))
	if err != nil {
		return nil, true, fmt.Errorf("read transaction index: %w", err)
	}
	es, err = decodeTxnIndex(b, s.base, s.st.next)
	return es, true, err
}

// writeTxnIndex appends the entries of st not yet on disk.
func (s *segment) writeTxnIndex(st *segState) error {
	n := len(st.aborted)
	if n <= s.txnOnDisk {
		return nil
	}
	b := appendTxnEntries(nil, st.aborted[s.txnOnDisk:])
	if err := writeAt(opIndexWrite, s.txn, b, int64(s.txnOnDisk)*txnEntrySize); err != nil {
		s.txnTorn = true
		return fmt.Errorf("write transaction index: %w", err)
	}
	first := s.txnOnDisk == 0
	s.txnOnDisk, s.txnExists, s.dirtyIndexes = n, true, true
	if first {
		// The file may be new. A missing one reads as "no aborted
		// transactions" in a trusted segment, so its directory entry must
		// be as durable as the fsynced entries (once per segment with
		// aborts).
		return syncDir(s.dir)
	}
	return nil
}

// rewriteTxnIndex replaces the transaction index with the entries of st.
// A segment without entries keeps no file, as when it was written.
func (s *segment) rewriteTxnIndex(st *segState) error {
	if err := s.truncateTxnIndex(0); err != nil {
		return err
	}
	return s.writeTxnIndex(st)
}

// truncateTxnIndex truncates the transaction index to n entries if the
// file exists; it does not create it.
func (s *segment) truncateTxnIndex(n int) error {
	err := s.txn.do(false, func(f *os.File) error { return truncateFile(f, int64(n)*txnEntrySize) })
	switch {
	case errors.Is(err, errNotCreated) || errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("truncate transaction index: %w", err)
	}
	s.txnOnDisk, s.txnTorn, s.txnExists = n, false, true
	s.dirtyIndexes = true
	return nil
}

// abortedIn returns the entries of es whose transaction overlaps [from,
// upper), and whether a later segment may hold more: none can once an
// entry's last stable offset reaches upper, since every transaction still
// open at that marker began at or after that offset (Kafka's
// TransactionIndex.collectAbortedTxns).
func abortedIn(es []AbortedTxn, from, upper int64) ([]AbortedTxn, bool) {
	var out []AbortedTxn
	for _, e := range es {
		if e.LastOffset >= from && e.FirstOffset < upper {
			out = append(out, e)
		}
		if e.LastStableOffset >= upper {
			return out, true
		}
	}
	return out, false
}

// keptTxnEntries returns, for each segment whose transaction index is
// rebuilt from a replay starting at from, the entries of its file for
// markers below from, which the replay does not see. They are trusted: from
// (a producer snapshot's offset) is at or below the recovery point. ok is
// false if such a file is unusable: then only a replay from the log start
// rebuilds it.
func keptTxnEntries(segs []*segment, from int64) (map[*segment][]AbortedTxn, bool) {
	kept := map[*segment][]AbortedTxn{}
	for _, s := range segs {
		if !s.txnRebuild || s.base >= from {
			continue
		}
		es, exists, err := s.loadTxnIndex()
		if err != nil || !exists && s.firstControl >= 0 && s.firstControl < from {
			// Damaged, or missing although the segment holds markers
			// below from (its other indexes were deleted with it, say).
			return nil, false
		}
		i := sort.Search(len(es), func(i int) bool { return es[i].LastOffset >= from })
		kept[s] = es[:i]
	}
	return kept, true
}

// rebuildTxnIndexes writes, durably, the transaction index of every segment
// marked txnRebuild: the entries kept from its file, then those replayed.
func rebuildTxnIndexes(segs []*segment, kept, rebuilt map[*segment][]AbortedTxn) error {
	for _, s := range segs {
		if !s.txnRebuild {
			continue
		}
		s.st.aborted = append(kept[s], rebuilt[s]...)
		if err := s.rewriteTxnIndex(&s.st); err != nil {
			return err
		}
		if s.txnExists {
			if err := syncFile(s.txn); err != nil {
				return fmt.Errorf("fsync %s: %w", s.txn.Name(), err)
			}
		}
		s.txnRebuild = false
	}
	return nil
}
