package record

import (
	"encoding/binary"
	"fmt"
)

// ControlType is the type of a control record (the int16 after the
// version in its key). Only the end-transaction markers are written to
// partition logs.
type ControlType int16

// Control record types Kafka defines for partition logs.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// Sizes of an end-transaction marker's key (version int16, type int16)
// and value (version int16, coordinatorEpoch int32), version 0 of both.
const (
	controlKeySize  = 4
	endTxnValueSize = 6
)

// EndTxnMarker is the content of a COMMIT or ABORT control record: which
// way the transaction ended, and the epoch of the transaction coordinator
// that wrote it (a marker from an older coordinator is fenced).
type EndTxnMarker struct {
	Commit           bool
	CoordinatorEpoch int32
}

// BuildEndTxnMarker encodes the control batch that ends producerID's
// transaction in a partition: transactional and control attributes, no
// sequence (-1), one record at offset delta 0 whose key is {version 0,
// type} and whose value is {version 0, coordinatorEpoch}, timestamps ts,
// stamped with leaderEpoch. The base offset is left 0 for the log to
// stamp. Control batches are never compressed.
func BuildEndTxnMarker(producerID int64, producerEpoch int16, m EndTxnMarker, leaderEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	be := binary.BigEndian
	key := be.AppendUint16(make([]byte, 2, controlKeySize), uint16(typ)) // version 0 first
	val := be.AppendUint32(make([]byte, 2, endTxnValueSize), uint32(m.CoordinatorEpoch))
	b := make([]byte, HeaderSize, HeaderSize+32)
	b = appendRecord(b, 0, Record{Key: key, Value: val})
	be.PutUint32(b[offLength:], uint32(len(b)-lengthOverhead))
	be.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], attrTransactional|attrControl)
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint64(b[offProducerID:], uint64(producerID))
	be.PutUint16(b[offProducerEpoch:], uint16(producerEpoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offNumRecords:], 1)
	be.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// ParseEndTxnMarker decodes the end-transaction marker held by the control
// batch b, which must be one whole, valid batch. Like Kafka it reads key
// and value of any version by their version-0 prefix. A batch that is not
// a control batch, holds no record (the cleaner may have emptied it), or
// whose record is not COMMIT or ABORT returns ok false with no error; bad
// framing returns an error wrapping ErrInvalid or ErrCorrupt.
func ParseEndTxnMarker(b []byte) (m EndTxnMarker, ok bool, err error) {
	h, recs, err := Records(b)
	if err != nil {
		return m, false, err
	}
	if !h.IsControl() || len(recs) == 0 {
		return m, false, nil
	}
	r := recs[0]
	if len(r.Key) < controlKeySize {
		return m, false, fmt.Errorf("%w: control record key of %d bytes", ErrInvalid, len(r.Key))
	}
	typ := ControlType(binary.BigEndian.Uint16(r.Key[2:]))
	if typ != ControlAbort && typ != ControlCommit {
		return m, false, nil
	}
	if len(r.Value) < endTxnValueSize {
		return m, false, fmt.Errorf("%w: end transaction marker value of %d bytes", ErrInvalid, len(r.Value))
	}
	m = EndTxnMarker{Commit: typ == ControlCommit, CoordinatorEpoch: int32(binary.BigEndian.Uint32(r.Value[2:]))}
	return m, true, nil
}
