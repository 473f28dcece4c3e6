package storage

import (
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Chunk is a byte range of a segment file holding whole batches. File stays
// open, even if its segment is deleted or the file cache is full, until
// Release; whoever receives a Chunk releases it exactly once.
type Chunk struct {
	File     *os.File
	Pos, Len int64
	pinned   *segFile
}

// Release lets the file cache close the chunk's file again.
func (c Chunk) Release() {
	if c.pinned != nil {
		c.pinned.unpin()
	}
}

// ReadAll reads the chunk into memory.
func (c Chunk) ReadAll() ([]byte, error) {
	b := make([]byte, c.Len)
	if _, err := c.File.ReadAt(b, c.Pos); err != nil {
		return nil, fmt.Errorf("read chunk of %s: %w", c.File.Name(), err)
	}
	return b, nil
}

// ReadResult is the answer to a Read.
type ReadResult struct {
	Chunks           []Chunk
	HighWatermark    int64
	LogStartOffset   int64
	LastStableOffset int64 // no transactions yet: equals HighWatermark
}

// Release releases every chunk of the result.
func (r ReadResult) Release() {
	for _, c := range r.Chunks {
		c.Release()
	}
}

// view is a reader's consistent snapshot of a log.
type view struct {
	segs     []*segment
	sts      []segState
	logStart int64
	hw       int64
}

// snapshot copies the state of the segments from the one holding offset.
func (l *Log) snapshot(offset int64) (view, int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	segs := l.mu.segments
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })-1, 0)
	v := view{segs: segs[i:], sts: make([]segState, len(segs)-i), logStart: l.mu.logStart, hw: l.mu.logEnd}
	for j, s := range v.segs {
		v.sts[j] = s.st
	}
	return v, i
}

// Read returns whole batches from the one holding offset, up to maxBytes
// (at least one batch with minOneBatch) and never past the high watermark.
func (l *Log) Read(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	v, _ := l.snapshot(offset)
	res := ReadResult{HighWatermark: v.hw, LogStartOffset: v.logStart, LastStableOffset: v.hw}
	if offset < v.logStart || offset > v.hw {
		return res, fmt.Errorf("%w: offset %d outside [%d, %d] of %s", ErrOffsetOutOfRange,
			offset, v.logStart, v.hw, partitionDirName(l.topic, l.partition))
	}
	budget := maxBytes
	for i := range v.segs {
		minOne := minOneBatch && len(res.Chunks) == 0
		if budget <= 0 && !minOne {
			break
		}
		c, full, err := readSegment(v.segs[i], v.sts[i], offset, budget, minOne)
		if err != nil {
			res.Release()
			res.Chunks = nil
			return res, fmt.Errorf("read %s: %w", partitionDirName(l.topic, l.partition), err)
		}
		if c.Len > 0 {
			res.Chunks = append(res.Chunks, c)
			budget -= c.Len
		} else {
			c.Release()
		}
		if !full {
			break
		}
	}
	return res, nil
}

// readSegment returns the batches of one segment from the one holding
// offset, within budget. full says the chunk reached the segment's end.
func readSegment(s *segment, st segState, offset, budget int64, minOne bool) (Chunk, bool, error) {
	r := newBatchReader(s.log, st.size, 8<<10)
	start, err := findBatch(r, s, st, offset)
	if err != nil || start >= st.size {
		return Chunk{}, true, err
	}
	if st.size-start <= budget {
		c, err := s.chunk(start, st.size-start)
		return c, true, err
	}
	end := start
	limit := start + max(budget, 0)
	if i := sort.Search(len(st.index), func(i int) bool { return int64(st.index[i].pos) > limit }); i > 0 {
		end = max(end, int64(st.index[i-1].pos))
	}
	for end < st.size {
		h, err := r.header(end)
		if err != nil {
			return Chunk{}, false, err
		}
		if end+int64(h.Size()) > limit {
			if end == start && minOne {
				end += int64(h.Size())
			}
			break
		}
		end += int64(h.Size())
	}
	c, err := s.chunk(start, end-start)
	return c, end == st.size, err
}

// findBatch returns the position of the first batch whose last offset is
// >= offset, or st.size if there is none.
func findBatch(r *batchReader, s *segment, st segState, offset int64) (int64, error) {
	var pos int64
	if offset > s.base {
		pos = lookupIndex(st.index, uint32(min(offset-s.base, math.MaxUint32)), st.size)
	}
	for pos < st.size {
		h, err := r.header(pos)
		if err != nil {
			return 0, err
		}
		if h.LastOffset() >= offset {
			return pos, nil
		}
		pos += int64(h.Size())
	}
	return pos, nil
}

// OffsetForTimestamp returns the earliest record (at or after the log start
// offset) whose timestamp is >= ts, as Kafka's ListOffsets does.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	v, _ := l.snapshot(math.MinInt64)
	for i, s := range v.segs {
		st := v.sts[i]
		if st.maxTs < ts || st.next <= v.logStart {
			continue
		}
		from := s.base
		if rel := lookupTime(st.tindex, ts); rel >= 0 {
			from = s.base + rel + 1
		}
		if off, t, found := scanForTimestamp(s, st, max(from, v.logStart), ts); found {
			return off, t, true
		}
	}
	return -1, -1, false
}

// MaxTimestamp returns the record with the largest timestamp (the earliest
// such record on ties), as ListOffsets with timestamp -3 (KIP-734) asks.
func (l *Log) MaxTimestamp() (offset, timestamp int64, ok bool) {
	l.mu.RLock()
	maxTs := int64(-1)
	for _, s := range l.mu.segments {
		if s.st.next > l.mu.logStart {
			maxTs = max(maxTs, s.st.maxTs)
		}
	}
	l.mu.RUnlock()
	if maxTs < 0 {
		return -1, -1, false
	}
	return l.OffsetForTimestamp(maxTs)
}

// scanForTimestamp decodes the first batch at or after offset from whose
// max timestamp reaches ts and returns its first such record.
func scanForTimestamp(s *segment, st segState, from, ts int64) (int64, int64, bool) {
	r := newBatchReader(s.log, st.size, 64<<10)
	pos, err := findBatch(r, s, st, from)
	for err == nil && pos < st.size {
		var h record.BatchHeader
		if h, err = r.header(pos); err != nil || h.MaxTimestamp < ts {
			pos += int64(h.Size())
			continue
		}
		b, rerr := r.read(pos, h.Size())
		if rerr != nil {
			return -1, -1, false
		}
		if off, t, ok := firstRecordAtOrAfter(b, from, ts); ok {
			return off, t, true
		}
		pos += int64(h.Size())
	}
	return -1, -1, false
}

func firstRecordAtOrAfter(b []byte, from, ts int64) (int64, int64, bool) {
	h, recs, err := record.Records(b)
	if err != nil {
		return -1, -1, false
	}
	for _, rec := range recs {
		off, t := h.BaseOffset+int64(rec.OffsetDelta), h.BaseTimestamp+rec.TimestampDelta
		if h.HasLogAppendTime() {
			t = h.MaxTimestamp
		}
		if off >= from && t >= ts {
			return off, t, true
		}
	}
	return -1, -1, false
}
