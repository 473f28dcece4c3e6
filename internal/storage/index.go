package storage

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const (
	indexEntrySize     = 8  // relative offset uint32, position uint32
	timeIndexEntrySize = 12 // timestamp int64, relative offset uint32
)

// indexEntry maps the last offset of a batch (relative to the segment base)
// to the file position where that batch starts.
type indexEntry struct {
	rel uint32
	pos uint32
}

// timeEntry says every record up to base+rel has a timestamp <= ts.
type timeEntry struct {
	ts  int64
	rel uint32
}

func appendIndexEntries(dst []byte, es []indexEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

func appendTimeEntries(dst []byte, es []timeEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// decodeIndex parses an offset index and checks that it is strictly
// increasing in both columns and points inside a log of logSize bytes,
// past the first batch (which never gets an entry).
func decodeIndex(b []byte, logSize int64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: index of %d bytes", errCorruptFile, len(b))
	}
	es := make([]indexEntry, len(b)/indexEntrySize)
	for i := range es {
		e := indexEntry{binary.BigEndian.Uint32(b[i*8:]), binary.BigEndian.Uint32(b[i*8+4:])}
		if int64(e.pos) >= logSize || e.pos == 0 || i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos) {
			return nil, fmt.Errorf("%w: index entry %d out of order", errCorruptFile, i)
		}
		es[i] = e
	}
	return es, nil
}

// decodeTimeIndex parses a time index whose columns must not decrease.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: time index of %d bytes", errCorruptFile, len(b))
	}
	es := make([]timeEntry, len(b)/timeIndexEntrySize)
	for i := range es {
		e := timeEntry{int64(binary.BigEndian.Uint64(b[i*12:])), binary.BigEndian.Uint32(b[i*12+8:])}
		if i > 0 && (e.ts < es[i-1].ts || e.rel < es[i-1].rel) {
			return nil, fmt.Errorf("%w: time index entry %d out of order", errCorruptFile, i)
		}
		es[i] = e
	}
	return es, nil
}

// lookupIndex returns the position from which to scan for rel: the start of
// the last indexed batch whose last offset is <= rel, else 0. Entries at or
// beyond limit (the committed size) are ignored.
func lookupIndex(es []indexEntry, rel uint32, limit int64) int64 {
	pos, _ := lookupIndexEntry(es, rel, limit)
	return pos
}

// lookupIndexEntry is lookupIndex that also returns the relative last
// offset of the batch at that position, or -1 for position 0.
func lookupIndexEntry(es []indexEntry, rel uint32, limit int64) (int64, int64) {
	i := sort.Search(len(es), func(i int) bool { return es[i].rel > rel || int64(es[i].pos) >= limit })
	if i == 0 {
		return 0, -1
	}
	return int64(es[i-1].pos), int64(es[i-1].rel)
}

// lookupTime returns the relative offset after which to start scanning for
// the first record with timestamp >= ts, or -1 to scan from the start.
func lookupTime(es []timeEntry, ts int64) int64 {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
	if i == 0 {
		return -1
	}
	return int64(es[i-1].rel)
}
