package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sort"

	"github.com/eddy-streaming/eddy/internal/record"
)

// maxBatchesPerProducer is how many recent batches per producer are kept to
// answer retries with their original offsets (Kafka keeps five, matching
// max.in.flight.requests.per.connection).
const maxBatchesPerProducer = 5

// batchMeta is the sequence and offset range of one appended batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

// producerEntry is what a log remembers of one producer id.
type producerEntry struct {
	epoch      int16
	coordEpoch int32       // coordinator epoch of the producer's last marker, -1 before any
	txnFirst   int64       // first offset of its ongoing transaction, -1 if none
	lastTime   int64       // max timestamp of its last batch (data or marker), -1 if unknown
	batches    []batchMeta // oldest first, at most maxBatchesPerProducer
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, coordEpoch: -1, txnFirst: -1, lastTime: -1}
}

// producers is the idempotence and transaction state of one log, owned by
// its writer goroutine (and by the opener while recovering). It is a
// deterministic core: check decides, apply commits, as Kafka's
// ProducerAppendInfo does.
type producers map[int64]*producerEntry

// seqAdd adds n to a sequence number, wrapping at MaxInt32 like Kafka.
func seqAdd(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// check decides what to do with a producer's batch: dup >= 0 is the
// original base offset of an exact retry. m is the end-transaction marker
// a control batch holds (nil for other batches).
func (p producers) check(h record.BatchHeader, m *record.EndTxnMarker) (dup int64, err error) {
	e, ok := p[h.ProducerID]
	if h.IsControl() {
		return -1, checkMarker(e, ok, h, m)
	}
	if dup, err = checkData(e, ok, h); err != nil || dup >= 0 {
		return dup, err
	}
	if ok && e.txnFirst >= 0 && !h.IsTransactional() {
		return -1, fmt.Errorf("%w: producer %d wrote a non-transactional batch during its transaction from offset %d",
			ErrInvalidTxnState, h.ProducerID, e.txnFirst)
	}
	return -1, nil
}

// checkMarker refuses a control batch from an older producer epoch, and
// an end-transaction marker from an older transaction coordinator.
func checkMarker(e *producerEntry, ok bool, h record.BatchHeader, m *record.EndTxnMarker) error {
	switch {
	case !ok:
		return nil
	case h.ProducerEpoch < e.epoch:
		return fmt.Errorf("%w: marker epoch %d older than %d", ErrInvalidProducerEpoch, h.ProducerEpoch, e.epoch)
	case m != nil && m.CoordinatorEpoch < e.coordEpoch:
		return fmt.Errorf("%w: coordinator epoch %d older than %d", ErrTransactionCoordinatorFenced, m.CoordinatorEpoch, e.coordEpoch)
	}
	return nil
}

func checkData(e *producerEntry, ok bool, h record.BatchHeader) (int64, error) {
	if h.BaseSequence < 0 {
		// A coordinator's batch on the producer's behalf (TxnOffsetCommit):
		// no sequence to check, only the epoch. Clients cannot send one
		// (record.ProduceRules wants a sequence with a producer id).
		if ok && h.ProducerEpoch < e.epoch {
			return -1, fmt.Errorf("%w: epoch %d older than %d", ErrInvalidProducerEpoch, h.ProducerEpoch, e.epoch)
		}
		return -1, nil
	}
	switch {
	case !ok:
		if h.BaseSequence != 0 {
			return -1, fmt.Errorf("%w: producer %d starts at sequence %d", ErrUnknownProducerID, h.ProducerID, h.BaseSequence)
		}
		return -1, nil
	case h.ProducerEpoch < e.epoch:
		return -1, fmt.Errorf("%w: epoch %d older than %d", ErrInvalidProducerEpoch, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return -1, fmt.Errorf("%w: new epoch %d starts at sequence %d", ErrOutOfOrderSequence, h.ProducerEpoch, h.BaseSequence)
		}
		return -1, nil
	}
	return e.checkSequence(h)
}

func (e *producerEntry) checkSequence(h record.BatchHeader) (int64, error) {
	last := seqAdd(h.BaseSequence, h.LastOffsetDelta)
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b.firstOffset, nil
		}
	}
	if len(e.batches) == 0 {
		if h.BaseSequence != 0 {
			return -1, fmt.Errorf("%w: expected sequence 0, got %d", ErrOutOfOrderSequence, h.BaseSequence)
		}
		return -1, nil
	}
	if want := seqAdd(e.batches[len(e.batches)-1].lastSeq, 1); h.BaseSequence != want {
		return -1, fmt.Errorf("%w: expected sequence %d, got %d", ErrOutOfOrderSequence, want, h.BaseSequence)
	}
	return -1, nil
}

// txnEvent is what a batch did to its producer's transaction.
type txnEvent struct {
	kind       txnKind
	producerID int64
	first      int64      // first offset of the transaction
	last       int64      // txnEnd: offset of the marker
	aborted    bool       // txnEnd: the marker is ABORT
	entry      AbortedTxn // txnEnd and aborted: its transaction index entry
}

type txnKind uint8

const (
	txnNone  txnKind = iota
	txnBegin         // the producer's first transactional batch since its last marker
	txnEnd           // a marker ended a transaction that wrote data (an empty one ends nothing)
)

// apply records a batch appended at its (stamped) base offset and returns
// what it did to a transaction. m is the end-transaction marker of a
// control batch (nil for other batches and for control batches that hold
// none, such as one the cleaner emptied).
func (p producers) apply(h record.BatchHeader, m *record.EndTxnMarker) txnEvent {
	if h.ProducerID < 0 {
		return txnEvent{}
	}
	e, ok := p[h.ProducerID]
	if !ok || h.ProducerEpoch > e.epoch {
		// A new epoch restarts sequences; a transaction it continues (or a
		// bumped-epoch marker ends) stays, as in Kafka.
		ne := newProducerEntry(h.ProducerEpoch)
		if ok {
			ne.coordEpoch, ne.txnFirst = e.coordEpoch, e.txnFirst
		}
		e, p[h.ProducerID] = ne, ne
	}
	// Kafka's ProducerStateEntry.lastTimestamp: what DescribeProducers
	// reports and find-hanging ages an open transaction by.
	e.lastTime = h.MaxTimestamp
	if h.IsControl() {
		if m == nil {
			return txnEvent{}
		}
		ev := txnEvent{}
		if e.txnFirst >= 0 {
			ev = txnEvent{kind: txnEnd, producerID: h.ProducerID, first: e.txnFirst, last: h.BaseOffset, aborted: !m.Commit}
		}
		e.coordEpoch, e.txnFirst = m.CoordinatorEpoch, -1
		return ev
	}
	if h.BaseSequence >= 0 {
		m := batchMeta{h.BaseSequence, seqAdd(h.BaseSequence, h.LastOffsetDelta), h.BaseOffset, h.LastOffset()}
		if len(e.batches) == maxBatchesPerProducer {
			e.batches = append(e.batches[:0], e.batches[1:]...)
		}
		e.batches = append(e.batches, m)
	}
	if h.IsTransactional() && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		return txnEvent{kind: txnBegin, producerID: h.ProducerID, first: h.BaseOffset}
	}
	return txnEvent{}
}

// firstOngoing returns the lowest first offset of an ongoing transaction
// of a producer other than exclude, or -1. Entries of the views earlier in
// the list hide those of the same producer in later ones (a tentative
// clone over the writer's state). It walks every producer: it runs once
// per ABORT marker, to fill the last stable offset of its index entry.
func firstOngoing(exclude int64, views ...producers) int64 {
	first := int64(-1)
	for i, p := range views {
		for id, e := range p {
			if id == exclude || e.txnFirst < 0 || hiddenBy(id, views[:i]) {
				continue
			}
			if first < 0 || e.txnFirst < first {
				first = e.txnFirst
			}
		}
	}
	return first
}

func hiddenBy(id int64, views []producers) bool {
	for _, p := range views {
		if _, ok := p[id]; ok {
			return true
		}
	}
	return false
}

// abortedEntry returns the transaction index entry of an ABORT event: the
// last stable offset is where the log's would stand once the transaction
// is complete, given the other producers' ongoing transactions.
func abortedEntry(ev txnEvent, views ...producers) AbortedTxn {
	lso := ev.last + 1
	if f := firstOngoing(ev.producerID, views...); f >= 0 {
		lso = f
	}
	return AbortedTxn{ProducerID: ev.producerID, FirstOffset: ev.first, LastOffset: ev.last, LastStableOffset: lso}
}

// clone copies the entries named by ids, so that a multi-batch append can
// be checked against tentative state and discarded on failure.
func (p producers) clone(ids []int64) producers {
	c := make(producers, len(ids))
	for _, id := range ids {
		if e, ok := p[id]; ok {
			cp := *e
			cp.batches = append([]batchMeta(nil), e.batches...)
			c[id] = &cp
		}
	}
	return c
}

const (
	snapshotFile    = "producer.snapshot"
	snapshotMagic   = "EDPS"
	snapshotVersion = 3                     // 1: no transaction fields, 2: no last timestamp; both still read
	snapshotHeader  = 4 + 2 + 2 + 8 + 4     // magic, version, reserved, offset, count
	snapshotEntryV1 = 8 + 2 + 2             // id, epoch, batch count
	snapshotEntryV2 = 8 + 2 + 4 + 8 + 2     // id, epoch, coordinator epoch, txn first offset, batch count
	snapshotEntry   = 8 + 2 + 4 + 8 + 8 + 2 // v2 plus the last timestamp before the batch count
	snapshotBatch   = 4 + 4 + 8 + 8
)

// encodeSnapshot serializes the state valid at log end offset off.
func (p producers) encodeSnapshot(off int64) []byte {
	ids := make([]int64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	be := binary.BigEndian
	b := append([]byte(nil), snapshotMagic...)
	b = be.AppendUint16(b, snapshotVersion)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint64(b, uint64(off))
	b = be.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := p[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint32(b, uint32(e.coordEpoch))
		b = be.AppendUint64(b, uint64(e.txnFirst))
		b = be.AppendUint64(b, uint64(e.lastTime))
		b = be.AppendUint16(b, uint16(len(e.batches)))
		for _, m := range e.batches {
			b = be.AppendUint32(b, uint32(m.firstSeq))
			b = be.AppendUint32(b, uint32(m.lastSeq))
			b = be.AppendUint64(b, uint64(m.firstOffset))
			b = be.AppendUint64(b, uint64(m.lastOffset))
		}
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshot parses a snapshot (version 1 to 3) and returns the offset
// it is valid at.
func decodeSnapshot(b []byte) (producers, int64, error) {
	bad := func(what string) (producers, int64, error) {
		return nil, 0, fmt.Errorf("%w: producer snapshot: %s", errCorruptFile, what)
	}
	be := binary.BigEndian
	if len(b) < snapshotHeader+4 || string(b[:4]) != snapshotMagic {
		return bad("header")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != be.Uint32(b[len(b)-4:]) {
		return bad("crc")
	}
	version := be.Uint16(b[4:])
	entrySize := snapshotEntry
	switch version {
	case 1:
		entrySize = snapshotEntryV1
	case 2:
		entrySize = snapshotEntryV2
	case snapshotVersion:
	default:
		return bad("version")
	}
	off := int64(be.Uint64(b[8:]))
	n := int(be.Uint32(b[16:]))
	rest := body[snapshotHeader:]
	if n > len(rest)/entrySize {
		return bad("count")
	}
	p := make(producers, n)
	for range n {
		if len(rest) < entrySize {
			return bad("entry")
		}
		id, e := int64(be.Uint64(rest)), newProducerEntry(int16(be.Uint16(rest[8:])))
		if version > 1 {
			e.coordEpoch, e.txnFirst = int32(be.Uint32(rest[10:])), int64(be.Uint64(rest[14:]))
		}
		if version > 2 {
			e.lastTime = int64(be.Uint64(rest[22:]))
		}
		nb := int(be.Uint16(rest[entrySize-2:]))
		rest = rest[entrySize:]
		if nb > maxBatchesPerProducer || len(rest) < nb*snapshotBatch || e.txnFirst < -1 || e.txnFirst >= off {
			return bad("entry fields")
		}
		for range nb {
			e.batches = append(e.batches, batchMeta{int32(be.Uint32(rest)), int32(be.Uint32(rest[4:])),
				int64(be.Uint64(rest[8:])), int64(be.Uint64(rest[16:]))})
			rest = rest[snapshotBatch:]
		}
		p[id] = e
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return p, off, nil
}
