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
	epoch   int16
	batches []batchMeta // oldest first, at most maxBatchesPerProducer
}

// producers is the idempotence state of one log, owned by its writer
// goroutine (and by the opener while recovering). It is a deterministic
// core: check decides, apply commits.
type producers map[int64]*producerEntry

// seqAdd adds n to a sequence number, wrapping at MaxInt32 like Kafka.
func seqAdd(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// check decides what to do with an idempotent batch: dup >= 0 is the
// original base offset of an exact retry.
func (p producers) check(h record.BatchHeader) (dup int64, err error) {
	e, ok := p[h.ProducerID]
	switch {
	case h.IsControl():
		if ok && h.ProducerEpoch < e.epoch {
			return -1, fmt.Errorf("%w: epoch %d older than %d", ErrInvalidProducerEpoch, h.ProducerEpoch, e.epoch)
		}
		return -1, nil
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

// apply records a batch appended at its (stamped) base offset.
func (p producers) apply(h record.BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	e, ok := p[h.ProducerID]
	if !ok || h.ProducerEpoch > e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		p[h.ProducerID] = e
	}
	if h.IsControl() || h.BaseSequence < 0 {
		return
	}
	m := batchMeta{h.BaseSequence, seqAdd(h.BaseSequence, h.LastOffsetDelta), h.BaseOffset, h.LastOffset()}
	if len(e.batches) == maxBatchesPerProducer {
		e.batches = append(e.batches[:0], e.batches[1:]...)
	}
	e.batches = append(e.batches, m)
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
	snapshotVersion = 1
	snapshotHeader  = 4 + 2 + 2 + 8 + 4 // magic, version, reserved, offset, count
	snapshotEntry   = 8 + 2 + 2         // id, epoch, batch count
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

// decodeSnapshot parses a snapshot and returns the offset it is valid at.
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
	if be.Uint16(b[4:]) != snapshotVersion {
		return bad("version")
	}
	off := int64(be.Uint64(b[8:]))
	n := int(be.Uint32(b[16:]))
	rest := body[snapshotHeader:]
	if n > len(rest)/snapshotEntry {
		return bad("count")
	}
	p := make(producers, n)
	for range n {
		if len(rest) < snapshotEntry {
			return bad("entry")
		}
		id, e, nb := int64(be.Uint64(rest)), &producerEntry{epoch: int16(be.Uint16(rest[8:]))}, int(be.Uint16(rest[10:]))
		rest = rest[snapshotEntry:]
		if nb > maxBatchesPerProducer || len(rest) < nb*snapshotBatch {
			return bad("batches")
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
