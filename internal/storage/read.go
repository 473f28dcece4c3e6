package storage

import (
	"fmt"
	"math"
	"os"
	"sort"
	"sync"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Chunk is whole batches: a byte range of a segment file or, when the log
// is encrypted at rest, the decrypted batches in memory (Data, and File is
// nil). File stays open, even if its segment is deleted or the file cache
// is full, until Release; Data is reused after Release. Whoever receives a
// Chunk releases it exactly once.
type Chunk struct {
	File     *os.File
	Pos, Len int64
	Data     []byte
	pinned   *segFile
	buf      *[]byte // Data's buffer, back to chunkBufs on Release
}

// Release lets the file cache close the chunk's file again, or reuses the
// memory of Data.
func (c Chunk) Release() {
	if c.pinned != nil {
		c.pinned.unpin()
	}
	if c.buf != nil {
		chunkBufs.Put(c.buf)
	}
}

// ReadAll returns the chunk's bytes in memory of the caller's own.
func (c Chunk) ReadAll() ([]byte, error) {
	if c.File == nil {
		return append([]byte(nil), c.Data...), nil
	}
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
	LastStableOffset int64
	// AbortedTxns lists, for ReadCommitted only, the aborted transactions
	// overlapping the batches returned, in marker order (a fetch
	// response's AbortedTransactions: producer id and first offset).
	AbortedTxns []AbortedTxn
}

// Release releases every chunk of the result.
func (r ReadResult) Release() {
	for _, c := range r.Chunks {
		c.Release()
	}
}

// view is a reader's consistent snapshot of a log.
type view struct {
	segs        []*segment
	sts         []segState
	logStart    int64
	hw          int64
	lso         int64
	end         int64 // log end offset
	truncations uint64
	epochs      epochList // the leader-epoch cache, which verification checks batches against
	offline     error
}

// snapshot copies the state of the segments from the one holding offset.
func (l *Log) snapshot(offset int64) (view, int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	segs := l.mu.segments
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })-1, 0)
	v := view{segs: segs[i:], sts: make([]segState, len(segs)-i), logStart: l.mu.logStart, hw: l.hwLocked(), lso: l.lsoLocked(),
		end: l.mu.logEnd, truncations: l.mu.truncations, epochs: l.mu.epochs, offline: l.mu.offline}
	for j, s := range v.segs {
		v.sts[j] = s.st
	}
	return v, i
}

// Read returns whole batches from the one holding offset, up to maxBytes
// (at least one batch with minOneBatch) and never past the high watermark
// (a consumer's fetch). An offset between the high watermark and the log
// end offset reads nothing; one outside [log start, log end] is out of
// range. A batch that fails its checks is never returned: the log goes
// offline (see Offline) and Read returns that error. A read that races
// with TruncateTo may fail with ErrLogTruncated instead.
func (l *Log) Read(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOneBatch, toHighWatermark)
}

// ReadReplica is Read up to the log end offset instead of the high
// watermark: a follower's fetch.
func (l *Log) ReadReplica(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOneBatch, toLogEnd)
}

// ReadCommitted is Read for a read_committed consumer: it stops at the
// last stable offset instead of the high watermark (an offset between the
// two reads nothing), and fills AbortedTxns with the aborted transactions
// overlapping the batches returned, as Kafka's fetch with isolation level
// READ_COMMITTED does.
func (l *Log) ReadCommitted(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOneBatch, toLastStable)
}

// readLimit is where a read stops.
type readLimit uint8

const (
	toHighWatermark readLimit = iota
	toLogEnd
	toLastStable
)

func (l *Log) read(offset int64, maxBytes int64, minOneBatch bool, to readLimit) (ReadResult, error) {
	v, _ := l.snapshot(offset)
	res := ReadResult{HighWatermark: v.hw, LogStartOffset: v.logStart, LastStableOffset: v.lso}
	if v.offline != nil {
		return res, v.offline
	}
	if offset < v.logStart || offset > v.end {
		return res, fmt.Errorf("%w: offset %d outside [%d, %d] of %s", ErrOffsetOutOfRange,
			offset, v.logStart, v.end, partitionDirName(l.topic, l.partition))
	}
	limit := v.hw
	switch to {
	case toLogEnd:
		limit = v.end
	case toLastStable:
		limit = v.lso
	}
	if offset >= limit {
		return res, nil
	}
	all := v.sts // before bound: markers past the limit may abort transactions below it
	if limit < v.end {
		if err := v.bound(limit); err != nil {
			return res, l.readFailed(v, err)
		}
	}
	chunks, next, err := l.readView(v, offset, maxBytes, minOneBatch)
	if err == nil && l.truncatedSince(v) {
		releaseChunks(chunks)
		chunks, err = nil, l.truncatedErr()
	}
	res.Chunks = chunks
	if err == nil && to == toLastStable && len(chunks) > 0 {
		res.AbortedTxns = collectAborted(all, offset, next)
	}
	return res, err
}

// AbortedTxns returns the aborted transactions that overlap the offsets
// [from, upper) (those whose marker is at or after from and whose first
// offset is below upper), in marker order, as Kafka's
// collectAbortedTransactions does. ReadCommitted fills them in already;
// this is for callers that bound a read themselves.
func (l *Log) AbortedTxns(from, upper int64) []AbortedTxn {
	v, _ := l.snapshot(from)
	return collectAborted(v.sts, from, upper)
}

// collectAborted gathers the entries overlapping [from, upper) from the
// transaction indexes of sts, the segments from the one holding from.
// Entries live with their markers, so later segments are searched too,
// until an entry shows none can follow.
func collectAborted(sts []segState, from, upper int64) []AbortedTxn {
	var out []AbortedTxn
	for _, st := range sts {
		es, done := abortedIn(st.aborted, from, upper)
		out = append(out, es...)
		if done {
			break
		}
	}
	return out
}

func releaseChunks(cs []Chunk) {
	for _, c := range cs {
		c.Release()
	}
}

// readView reads the chunks of a read from the view. It also returns the
// offset after the last batch read (where a next read would start).
func (l *Log) readView(v view, offset int64, maxBytes int64, minOneBatch bool) ([]Chunk, int64, error) {
	var res ReadResult
	budget, next := maxBytes, offset
	for i := range v.segs {
		minOne := minOneBatch && len(res.Chunks) == 0
		if budget <= 0 && !minOne {
			break
		}
		c, full, cnext, err := readSegment(v.segs[i], v.sts[i], offset, budget, minOne, v.epochs)
		if err != nil {
			res.Release()
			return nil, 0, l.readFailed(v, err)
		}
		if c.Len > 0 {
			res.Chunks = append(res.Chunks, c)
			budget -= c.Len
			next = cnext
		} else {
			c.Release()
		}
		if !full {
			break
		}
	}
	return res.Chunks, next, nil
}

// bound cuts the view at limit, a batch boundary below the log end: the
// segments from it on are dropped and the one holding it ends there (at
// the batch holding it, if limit falls inside one).
func (v *view) bound(limit int64) error {
	for len(v.segs) > 1 && v.segs[len(v.segs)-1].base >= limit {
		v.segs, v.sts = v.segs[:len(v.segs)-1], v.sts[:len(v.sts)-1]
	}
	i := len(v.segs) - 1
	s, st := v.segs[i], v.sts[i]
	if st.next <= limit {
		return nil
	}
	pos, _, err := findBatch(newBatchReader(s.log, st.size, 8<<10), s, st, limit)
	if err != nil {
		return err
	}
	v.sts[i].size, v.sts[i].next = pos, limit
	return nil
}

// readFailed reports a failed read: one that raced with TruncateTo (the
// bytes it was promised were cut) fails with ErrLogTruncated; otherwise
// corruption takes the log offline (failRead).
func (l *Log) readFailed(v view, err error) error {
	if l.truncatedSince(v) {
		return l.truncatedErr()
	}
	return l.failRead(err)
}

// truncatedSince says whether TruncateTo cut the log after v was taken,
// or was cutting it then: a truncation counts twice, before it changes
// files and when it publishes the result, so the count is odd meanwhile
// (and stays odd if it failed half way, until the log is reopened).
func (l *Log) truncatedSince(v view) bool { return l.truncatedAfter(v.truncations) }

// truncatedAfter is truncatedSince for a count n taken earlier.
func (l *Log) truncatedAfter(n uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.truncatedAfterLocked(n)
}

func (l *Log) truncatedAfterLocked(n uint64) bool { return l.mu.truncations != n || n%2 == 1 }

func (l *Log) truncatedErr() error {
	return fmt.Errorf("%w: %s", ErrLogTruncated, partitionDirName(l.topic, l.partition))
}

// readSegment returns the batches of one segment from the one holding
// offset, within budget, verified (checkServe). full says the chunk reached
// the segment's end; next is the offset after the chunk's last batch (at
// most the base of the batch after it).
func readSegment(s *segment, st segState, offset, budget int64, minOne bool, el epochList) (Chunk, bool, int64, error) {
	r := newBatchReader(s.log, st.size, 8<<10)
	start, minBase, err := findBatch(r, s, st, offset)
	if err != nil || start >= st.size {
		return Chunk{}, true, st.next, err
	}
	end, err := chunkEnd(r, s, st, start, budget, minOne)
	if err != nil {
		return Chunk{}, false, 0, err
	}
	if err := s.checkServe(st, start, end, minBase, el); err != nil {
		return Chunk{}, false, 0, err
	}
	next := st.next
	if end < st.size {
		if h, err := r.header(end); err == nil {
			next = min(h.BaseOffset, next)
		}
	}
	var c Chunk
	if s.log.c.keys != nil {
		c, err = s.plainChunk(start, end-start)
	} else {
		c, err = s.chunk(start, end-start)
	}
	return c, end == st.size, next, err
}

// chunkEnd returns where a chunk starting at start ends: at a batch
// boundary within budget (past one batch with minOne), or the segment end.
func chunkEnd(r *batchReader, s *segment, st segState, start, budget int64, minOne bool) (int64, error) {
	if st.size-start <= budget {
		return st.size, nil
	}
	end := start
	limit := start + max(budget, 0)
	if i := sort.Search(len(st.index), func(i int) bool { return int64(st.index[i].pos) > limit }); i > 0 {
		// Skip ahead only to an entry that matches its batch: the index
		// is derived data and must never make a chunk end mid-batch.
		e := st.index[i-1]
		if h, err := r.header(int64(e.pos)); int64(e.pos) > start && err == nil && h.LastOffset() == s.base+int64(e.rel) {
			end = int64(e.pos)
		}
	}
	// Served bytes are counted as on the wire: an encrypted batch is
	// served without its envelope. (Skipping by the index counted stored
	// bytes, never fewer.)
	served := end - start
	for end < st.size {
		h, err := r.header(end)
		if err != nil {
			return 0, s.corrupt(end, -1, err)
		}
		wire := int64(wireHeader(h).Size())
		if served+wire > budget {
			if end == start && minOne {
				end += int64(h.Size())
			}
			break
		}
		end += int64(h.Size())
		served += wire
	}
	return end, nil
}

// findBatch returns the position of the first batch whose last offset is
// >= offset (or st.size if there is none) and the lowest base offset that
// batch may have, known from the headers walked or the index entry.
func findBatch(r *batchReader, s *segment, st segState, offset int64) (int64, int64, error) {
	pos, anchor := int64(0), int64(-1)
	if offset > s.base {
		pos, anchor = lookupIndexEntry(st.index, uint32(min(offset-s.base, math.MaxUint32)), st.size)
	}
	next := s.base
	for pos < st.size {
		h, err := r.header(pos)
		if anchor >= 0 && (err != nil || h.LastOffset() != s.base+anchor) {
			// The index entry, or the batch it points at, is wrong (no
			// CRC covers a batch's base offset). The index is derived
			// data, so walk from the start: verification judges the batch.
			pos, next, anchor = 0, s.base, -1
			continue
		}
		if err != nil {
			return 0, 0, s.corrupt(pos, next, err)
		}
		if h.LastOffset() >= offset {
			return pos, next, nil
		}
		pos, next, anchor = pos+int64(h.Size()), h.LastOffset()+1, -1
	}
	return pos, next, nil
}

// OffsetForTimestamp returns the earliest record (at or after the log start
// offset) whose timestamp is >= ts, as Kafka's ListOffsets does. A batch
// that fails its checks takes the log offline, and nothing is found.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	v, _ := l.snapshot(math.MinInt64)
	if v.offline != nil {
		return -1, -1, false
	}
	for i, s := range v.segs {
		st := v.sts[i]
		if st.maxTs < ts || st.next <= v.logStart {
			continue
		}
		from := s.base
		if rel := lookupTime(st.tindex, ts); rel >= 0 {
			from = s.base + rel + 1
		}
		off, t, err := scanForTimestamp(s, st, max(from, v.logStart), ts)
		if err != nil {
			l.failRead(err)
			return -1, -1, false
		}
		if off >= 0 {
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
// max timestamp reaches ts and returns its first such record, or -1.
func scanForTimestamp(s *segment, st segState, from, ts int64) (int64, int64, error) {
	r := newBatchReader(s.log, st.size, 64<<10)
	pos, _, err := findBatch(r, s, st, from)
	for err == nil && pos < st.size {
		var h record.BatchHeader
		if h, err = r.header(pos); err != nil {
			return -1, -1, s.corrupt(pos, -1, err)
		}
		if h.MaxTimestamp >= ts {
			b, err := r.batch(pos, h)
			if err != nil {
				return -1, -1, s.corrupt(pos, h.BaseOffset, err)
			}
			if _, err := record.ValidateStored(b); err != nil {
				return -1, -1, s.corrupt(pos, h.BaseOffset, err)
			}
			if off, t, ok := firstRecordAtOrAfter(b, from, ts); ok {
				return off, t, nil
			}
		}
		pos += int64(h.Size())
	}
	return -1, -1, err
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

// chunkBufs recycles the memory of decrypted chunks between fetches.
var chunkBufs sync.Pool // of *[]byte

// plainChunk reads the whole batches at [pos, pos+n) of an encrypted log
// into memory with one read and decrypts the encrypted ones in place
// (plain ones, written before encryption was on, are kept): a fetch of an
// encrypted log cannot sendfile, and decrypts only what it serves.
func (s *segment) plainChunk(pos, n int64) (Chunk, error) {
	bp, _ := chunkBufs.Get().(*[]byte)
	if bp == nil || int64(cap(*bp)) < n {
		b := make([]byte, max(n, 64<<10))
		bp = &b
	}
	b := (*bp)[:n]
	if _, err := s.log.ReadAt(b, pos); err != nil {
		chunkBufs.Put(bp)
		return Chunk{}, fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
	}
	out, at, err := openBatches(s.log.c.keys, b)
	if err != nil {
		chunkBufs.Put(bp)
		return Chunk{}, s.corrupt(pos+at, -1, err)
	}
	return Chunk{Data: out, Len: int64(len(out)), buf: bp}, nil
}

// openBatches decrypts, in place, the stored batches filling b and returns
// the wire batches, a prefix of b; on failure, also where the bad batch is.
func openBatches(k *Keyring, b []byte) ([]byte, int64, error) {
	w := 0
	for r := 0; r < len(b); {
		h, err := record.ParseHeader(b[r:])
		if err != nil {
			return nil, int64(r), err
		}
		n := h.Size()
		if h.Length < record.HeaderSize-12 || n > len(b)-r {
			return nil, int64(r), fmt.Errorf("%w: batch of %d bytes, %d remain", record.ErrInvalid, n, len(b)-r)
		}
		unit := b[r : r+n]
		if isEncrypted(h) {
			if unit, err = k.openInPlace(unit); err != nil {
				return nil, int64(r), err
			}
		}
		w += copy(b[w:], unit)
		r += n
	}
	return b[:w], 0, nil
}
