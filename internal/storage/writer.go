package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// AppendOptions tunes one Append.
type AppendOptions struct {
	// Sync makes Append return only after the data is fsynced (acks=all).
	Sync bool
	// FromClient applies the rules Kafka applies to a producer's request:
	// exactly one batch, and the header rules of record.ProduceRules.
	FromClient bool
	// LeaderEpoch is the partition leader epoch stamped on the batches
	// (0 on a single node). One below the log's latest epoch is refused
	// with ErrFencedLeaderEpoch.
	LeaderEpoch int32
}

// AppendResult describes an accepted append.
type AppendResult struct {
	BaseOffset     int64 // offset of the first record
	LogAppendTime  int64 // broker timestamp, -1 unless message.timestamp.type=LogAppendTime
	LogStartOffset int64
	Duplicate      bool // a retry of batches already appended at BaseOffset
}

const (
	reqQueued int32 = iota
	reqTaken
	reqCanceled
)

type appendReq struct {
	data     []byte
	hdrs     []record.BatchHeader
	markers  []*record.EndTxnMarker // of the control batches among hdrs; nil if none
	txn      []txnEvent             // what each batch did to a transaction; nil if nothing
	sync     bool
	epoch    int32 // leader epoch to stamp
	follower bool  // batches keep their offsets, epochs and timestamps
	roll     bool  // internal: roll the active segment (retention)
	truncate bool  // internal: TruncateTo(truncTo)
	fully    bool  // internal: with truncate, TruncateFullyAndStartAt(truncTo)
	truncTo  int64
	inspect  func(producers) // internal: read the producer state (producers_view.go)
	state    atomic.Int32
	res      AppendResult
	err      error
	done     chan struct{}
}

// writerState is owned by the writer goroutine (and the opener/closer when
// no writer runs).
type writerState struct {
	producers      producers
	dirty          []*segment // written since the last fsync
	unflushedMsgs  int64
	unflushedSince time.Time
	buf            []byte
	plain          []byte // a batch being encrypted
	epochsStale    bool   // the epoch file may differ from Log.mu.epochs
}

// Append validates batches (one or more whole v2 batches; exactly one with
// FromClient), assigns them offsets and writes them. Nothing is appended if
// any batch is invalid, too large or fails the idempotence checks; records
// to blame are listed by a *record.RecordsError. The caller's bytes are not
// modified and not retained after Append returns. If ctx ends before the
// writer takes the request, nothing is appended and ctx.Err() is returned;
// once taken, Append waits for the outcome.
func (l *Log) Append(ctx context.Context, batches []byte, opts AppendOptions) (AppendResult, error) {
	cfg := l.Config()
	rules := record.ProduceRules{FromClient: opts.FromClient, RequireKeys: cfg.Compact}
	hdrs, err := splitBatches(ctx, batches, cfg.MaxMessageBytes, rules)
	if err == nil && opts.FromClient && len(hdrs) > 1 {
		err = fmt.Errorf("%w: a produce request carries exactly one batch per partition, not %d", record.ErrInvalid, len(hdrs))
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", partitionDirName(l.topic, l.partition), err)
	}
	if opts.LeaderEpoch < 0 {
		return AppendResult{}, fmt.Errorf("append to %s: %w: leader epoch %d", partitionDirName(l.topic, l.partition), record.ErrInvalid, opts.LeaderEpoch)
	}
	markers, err := parseMarkers(batches, hdrs)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %s: %w", partitionDirName(l.topic, l.partition), err)
	}
	return l.submit(ctx, &appendReq{data: batches, hdrs: hdrs, markers: markers, sync: opts.Sync, epoch: opts.LeaderEpoch, done: make(chan struct{})})
}

// parseMarkers decodes the end-transaction markers of the control batches
// among hdrs, whose bytes follow each other in b; nil when there are none.
func parseMarkers(b []byte, hdrs []record.BatchHeader) ([]*record.EndTxnMarker, error) {
	var ms []*record.EndTxnMarker
	for i, h := range hdrs {
		if h.IsControl() {
			m, ok, err := record.ParseEndTxnMarker(b[:h.Size()])
			if err != nil {
				return nil, fmt.Errorf("control batch %d: %w", i, err)
			}
			if ok {
				if ms == nil {
					ms = make([]*record.EndTxnMarker, len(hdrs))
				}
				ms[i] = &m
			}
		}
		b = b[h.Size():]
	}
	return ms, nil
}

// marker returns the end-transaction marker of batch i, if it is one.
func (r *appendReq) marker(i int) *record.EndTxnMarker {
	if r.markers == nil {
		return nil
	}
	return r.markers[i]
}

// setEvent records what batch i did to a transaction; an ABORT gets its
// index entry, computed against views (the state after the batch).
func (r *appendReq) setEvent(i int, ev txnEvent, views ...producers) {
	if ev.kind == txnNone {
		return
	}
	if ev.kind == txnEnd && ev.aborted {
		ev.entry = abortedEntry(ev, views...)
	}
	if r.txn == nil {
		r.txn = make([]txnEvent, len(r.hdrs))
	}
	r.txn[i] = ev
}

func (r *appendReq) event(i int) txnEvent {
	if r.txn == nil {
		return txnEvent{}
	}
	return r.txn[i]
}

// submit queues req for the writer and waits for its outcome.
func (l *Log) submit(ctx context.Context, req *appendReq) (AppendResult, error) {
	if err := l.enqueue(req); err != nil {
		return AppendResult{}, err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqCanceled) {
			return AppendResult{}, ctx.Err()
		}
		<-req.done
	}
	return req.res, req.err
}

// splitBatches validates every batch in b before anything is written,
// decompressing compressed ones (record.ValidateProduce).
func splitBatches(ctx context.Context, b []byte, maxBytes int64, rules record.ProduceRules) ([]record.BatchHeader, error) {
	return eachBatch(b, maxBytes, func(batch []byte, _ []record.BatchHeader) (record.BatchHeader, error) {
		return record.ValidateProduce(ctx, batch, rules)
	})
}

// eachBatch frames b into batches no larger than maxBytes and checks each
// with check, which sees the headers of the batches before it.
func eachBatch(b []byte, maxBytes int64, check func(batch []byte, before []record.BatchHeader) (record.BatchHeader, error)) ([]record.BatchHeader, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", record.ErrInvalid)
	}
	var hdrs []record.BatchHeader
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return nil, err
		}
		if err := checkWireAttributes(h); err != nil {
			return nil, err
		}
		if h.Length < 0 || int64(h.Size()) > int64(len(b)) {
			return nil, fmt.Errorf("%w: batch of %d bytes, %d remain", record.ErrInvalid, int64(h.Length)+12, len(b))
		}
		if int64(h.Size()) > maxBytes {
			return nil, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrRecordTooLarge, h.Size(), maxBytes)
		}
		if h, err = check(b[:h.Size()], hdrs); err != nil {
			return nil, err
		}
		hdrs = append(hdrs, h)
		b = b[h.Size():]
	}
	return hdrs, nil
}

func (l *Log) enqueue(req *appendReq) error {
	// Reading the state writes nothing, so a failed disk does not refuse it.
	if werr := l.refusal(req.roll); werr != nil && req.inspect == nil {
		return werr
	}
	l.q.Lock()
	defer l.q.Unlock()
	if l.q.closed != nil {
		return l.q.closed
	}
	l.q.pending = append(l.q.pending, req)
	if !l.q.running {
		l.q.running = true
		l.writers.Add(1)
		go l.runWriter()
	}
	l.wake()
	return nil
}

// wake nudges the writer without blocking.
func (l *Log) wake() {
	select {
	case l.q.wake <- struct{}{}:
	default:
	}
}

// requestRoll makes the writer roll the active segment if it holds data.
func (l *Log) requestRoll(ctx context.Context) error {
	req := &appendReq{roll: true, done: make(chan struct{})}
	if err := l.enqueue(req); err != nil {
		return err
	}
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqCanceled) {
			return ctx.Err()
		}
		<-req.done
		return req.err
	}
}

// runWriter drains the queue until it stays empty, then exits (after a
// pending flush.ms deadline, if any).
func (l *Log) runWriter() {
	defer l.writers.Done()
	for {
		reqs := l.takePending()
		if reqs == nil {
			return
		}
		l.process(reqs)
	}
}

func (l *Log) takePending() []*appendReq {
	for {
		l.q.Lock()
		if len(l.q.pending) > 0 {
			reqs := l.q.pending
			l.q.pending = nil
			l.q.Unlock()
			return reqs
		}
		wait, ok := l.flushWait()
		if !ok || l.q.closed != nil {
			l.q.running = false
			l.q.Unlock()
			return nil
		}
		l.q.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-l.q.wake:
		case <-t.C:
			if err := l.flush(l.LogEndOffset()); err != nil {
				l.fail(err) // sticky; appends report it
			}
		}
		t.Stop()
	}
}

// flushWait says how long until flush.ms requires an fsync, if it does.
func (l *Log) flushWait() (time.Duration, bool) {
	ms := l.Config().FlushMs
	if len(l.w.dirty) == 0 || ms <= 0 || ms >= math.MaxInt64/int64(time.Millisecond) {
		return 0, false
	}
	return max(time.Until(l.w.unflushedSince.Add(time.Duration(ms)*time.Millisecond)), 0), true
}

// piece is the part of a group write that lands in one segment.
type piece struct {
	seg      *segment
	st       segState // the segment's state after this write
	startPos int64
	from, to int // range of group.buf
	isNew    bool
}

// group is one drain of the queue, staged in memory before one write.
type group struct {
	latest    int32        // latest leader epoch, with those staged
	newEpochs []epochEntry // leader-epoch entries the group adds
	txns      []txnEvent   // transactions begun and ended, in offset order
	buf       []byte
	pieces    []piece
	next      int64
	records   int64
	sync      bool
	staged    []*appendReq
	undo      groupUndo // what staging changed, restored if a disk-full write fails
}

func (g *group) cur() *piece { return &g.pieces[len(g.pieces)-1] }

// process runs the requests in order: appends and rolls in group commits,
// each truncation and state read on its own between them.
func (l *Log) process(reqs []*appendReq) {
	for len(reqs) > 0 {
		i := slices.IndexFunc(reqs, func(r *appendReq) bool { return r.truncate || r.inspect != nil })
		if i < 0 {
			l.processGroup(reqs)
			return
		}
		if i > 0 {
			l.processGroup(reqs[:i])
		}
		if reqs[i].inspect != nil {
			l.runInspect(reqs[i])
		} else {
			l.runTruncate(reqs[i])
		}
		reqs = reqs[i+1:]
	}
}

func (l *Log) processGroup(reqs []*appendReq) {
	l.mu.RLock()
	cfg, werr, end := l.mu.cfg, l.mu.err, l.mu.logEnd
	l.mu.RUnlock()
	if werr != nil && l.retryDue(reqs) {
		werr = l.reprobe()
		l.mu.RLock()
		end = l.mu.logEnd
		l.mu.RUnlock()
	}
	g := &group{buf: l.w.buf[:0], next: end}
	l.startGroup(g)
	if err := l.closedErr(); errors.Is(err, ErrLogDeleted) {
		werr = err
	}
	now := l.now()
	var refused []*appendReq
	for _, r := range reqs {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue
		}
		if werr == nil {
			if werr = l.stageReq(g, r, cfg, now); werr == nil {
				continue
			}
		}
		refused = append(refused, r)
	}
	if werr == nil {
		werr = l.commit(g, cfg)
	}
	if werr != nil {
		werr = l.failGroup(g, werr)
	}
	l.answer(g, werr)
	for _, r := range refused {
		r.err = werr
		close(r.done)
	}
}

// startGroup starts g on the active segment. (g is made by the caller so
// that it stays on the stack.)
func (l *Log) startGroup(g *group) {
	l.mu.RLock()
	active := l.mu.segments[len(l.mu.segments)-1]
	st := active.st
	g.latest = l.mu.epochs.latest()
	l.mu.RUnlock()
	g.pieces = []piece{{seg: active, st: st, startPos: st.size}}
	g.undo.active = active.marks()
}

// stageReq checks idempotence, then copies and stamps the request's batches
// into the group. Only I/O failures are returned; request errors are kept
// in the request.
func (l *Log) stageReq(g *group, r *appendReq, cfg LogConfig, now time.Time) error {
	if r.roll {
		if g.cur().st.size > 0 {
			if err := l.stageRoll(g); err != nil {
				return err // process answers r
			}
		}
		g.staged = append(g.staged, r)
		return nil
	}
	if r.follower {
		return l.stageFollower(g, r, cfg, now)
	}
	if r.epoch < g.latest {
		r.err = fmt.Errorf("%w: epoch %d, latest %d", ErrFencedLeaderEpoch, r.epoch, g.latest)
		close(r.done)
		return nil
	}
	dup, err := l.checkProducers(g, r)
	if err != nil || dup >= 0 {
		r.err, r.res = err, AppendResult{BaseOffset: dup, LogAppendTime: -1, Duplicate: dup >= 0}
		if err == nil {
			r.res.LogStartOffset = l.LogStartOffset()
		}
		close(r.done)
		return nil
	}
	r.res = AppendResult{BaseOffset: g.next, LogAppendTime: -1}
	if cfg.TimestampType == LogAppendTime {
		r.res.LogAppendTime = now.UnixMilli()
	}
	for i, h := range r.hdrs {
		if err := l.stageBatch(g, r.data[:h.Size()], h, cfg, now, r.epoch); err != nil {
			return err
		}
		g.stageTxn(r.event(i))
		r.data = r.data[r.hdrs[i].Size():]
	}
	g.sync = g.sync || r.sync
	g.staged = append(g.staged, r)
	return nil
}

// checkProducers runs the idempotence and transaction checks for the
// batches of r about to get offsets from g.next. It returns the original
// base offset when every batch is a retry; on success the producer state
// is updated (and the previous entries kept in g.undo) and r.txn says what
// the batches did to transactions.
func (l *Log) checkProducers(g *group, r *appendReq) (int64, error) {
	hdrs := r.hdrs
	next := g.next
	var ids []int64
	for _, h := range hdrs {
		if h.ProducerID >= 0 {
			ids = append(ids, h.ProducerID)
		}
	}
	if len(ids) == 0 {
		return -1, nil
	}
	tent := l.w.producers.clone(ids)
	dups, first := 0, int64(-1)
	for i, h := range hdrs {
		if h.ProducerID < 0 {
			next += int64(h.LastOffsetDelta) + 1
			continue
		}
		dup, err := tent.check(h, r.marker(i))
		if err != nil {
			return -1, err
		}
		if dup >= 0 {
			if dups == 0 {
				first = dup
			}
			dups++
			continue
		}
		h.BaseOffset = next
		r.setEvent(i, tent.apply(h, r.marker(i)), tent, l.w.producers)
		next = h.LastOffset() + 1
	}
	switch {
	case dups == len(hdrs):
		return first, nil
	case dups > 0:
		return -1, fmt.Errorf("%w: request mixes retried and new batches", ErrOutOfOrderSequence)
	}
	for id, e := range tent {
		g.undo.saveProducer(id, l.w.producers[id])
		l.w.producers[id] = e
	}
	return -1, nil
}

// stageBatch copies one batch into the group, stamping its offset, leader
// epoch and (LogAppendTime) timestamp; a negative epoch stamps nothing (a
// follower's batch, which keeps the leader's).
func (l *Log) stageBatch(g *group, b []byte, h record.BatchHeader, cfg LogConfig, now time.Time, epoch int32) error {
	if l.needsRoll(g.cur(), h, g.next, cfg, now) {
		if err := l.stageRoll(g); err != nil {
			return err
		}
	}
	p := g.cur()
	start := len(g.buf)
	g.buf = append(g.buf, b...)
	if epoch >= 0 {
		nb := g.buf[start:]
		record.SetBaseOffset(nb, g.next)
		record.SetPartitionLeaderEpoch(nb, epoch)
		h.BaseOffset, h.PartitionLeaderEpoch = g.next, epoch
		if cfg.TimestampType == LogAppendTime {
			record.SetLogAppendTime(nb, now.UnixMilli())
			h.MaxTimestamp = now.UnixMilli()
		}
	}
	if keys := l.m.files.keys; keys != nil {
		// Stamped first: the header is sealed with the records.
		l.w.plain = append(l.w.plain[:0], g.buf[start:]...)
		g.buf = keys.seal(g.buf[:start], l.w.plain)
		h.Length += envelopeOverhead
		h.Attributes |= attrEncrypted
	}
	if h.PartitionLeaderEpoch > g.latest {
		g.newEpochs = append(g.newEpochs, epochEntry{h.PartitionLeaderEpoch, g.next})
		g.latest = h.PartitionLeaderEpoch
	}
	p.seg.addBatch(&p.st, h, p.st.size, cfg.IndexIntervalBytes)
	p.to = len(g.buf)
	g.next = h.LastOffset() + 1
	g.records += int64(h.NumRecords)
	return nil
}

func (l *Log) needsRoll(p *piece, h record.BatchHeader, next int64, cfg LogConfig, now time.Time) bool {
	if p.st.size == 0 {
		return false
	}
	size := int64(h.Size())
	if l.m.files.keys != nil {
		size += envelopeOverhead
	}
	maxEntries := max(cfg.SegmentIndexBytes/timeIndexEntrySize, 1)
	rolledAt := p.seg.created
	if p.seg.firstTs > 0 {
		rolledAt = time.UnixMilli(p.seg.firstTs)
	}
	if cfg.Compact && cfg.MaxCompactionLagMs > 0 && now.Sub(rolledAt).Milliseconds() > cfg.MaxCompactionLagMs {
		return true // KIP-354: the active segment cannot be cleaned
	}
	return p.st.size+size > cfg.SegmentBytes ||
		p.st.size+size > math.MaxUint32 ||
		int64(len(p.st.index)) >= max(cfg.SegmentIndexBytes/indexEntrySize, 1) ||
		int64(len(p.st.tindex)) >= maxEntries ||
		next+int64(h.LastOffsetDelta)-p.seg.base > math.MaxUint32 ||
		now.Sub(rolledAt).Milliseconds() > cfg.SegmentMs
}

// stageRoll seals the current segment and starts a new one at g.next.
func (l *Log) stageRoll(g *group) error {
	p := g.cur()
	p.seg.sealTimeIndex(&p.st)
	s, err := openSegment(l.m.files, l.dir, g.next, true)
	if err != nil {
		return fmt.Errorf("roll segment: %w", err)
	}
	l.logger.Debug("rolled segment", "segment", s.base)
	g.pieces = append(g.pieces, piece{seg: s, st: s.st, from: len(g.buf), to: len(g.buf), isNew: true})
	return nil
}
