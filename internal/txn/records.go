package txn

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Versions of the __transaction_state records (Kafka's TransactionLogKey
// and TransactionLogValue, docs/format/txn-state.md).
const (
	keyVersion      int16 = 0
	maxValueVersion int16 = 1 // 1 is flexible: tagged fields for KIP-890
)

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func compareTP(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Entry is the content of one __transaction_state value: the state of one
// transactional id as its coordinator last made durable.
type Entry struct {
	ProducerID         int64
	PreviousProducerID int64 // -1 if none (tagged, value version 1+)
	NextProducerID     int64 // -1 if none; set while an epoch overflow completes (tagged)
	ProducerEpoch      int16
	TimeoutMs          int32
	State              State
	Partitions         []TopicPartition // sorted, no duplicates; none when Empty
	LastUpdateMs       int64
	StartMs            int64 // -1 before the first partition is added
	ClientTxnVersion   int16 // transaction version of the client's last request (tagged)
}

// EncodeKey returns the record key of transactional id id.
func EncodeKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version, k.TransactionalID = keyVersion, id
	return k.AppendTo(nil)
}

// EncodeValue returns e as a value of the given version (0 or 1). Kafka
// writes version 0 until transaction.version 1 is finalized; version 0
// has no tagged fields, so it drops the previous and next producer ids and
// the client transaction version.
func EncodeValue(e *Entry, version int16) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = version
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = e.ProducerID, e.ProducerEpoch, e.TimeoutMs
	v.State = kmsg.TransactionState(e.State)
	v.LastUpdateTimestamp, v.StartTimestamp = e.LastUpdateMs, e.StartMs
	v.PreviousProducerID, v.NextProducerID = e.PreviousProducerID, e.NextProducerID
	v.ClientTransactionVersion = e.ClientTxnVersion
	// Kafka writes a null partition array for Empty and a (possibly
	// empty) array otherwise.
	if e.State != Empty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range e.Partitions {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
				t := kmsg.NewTxnMetadataValueTopic()
				t.Topic = tp.Topic
				v.Topics = append(v.Topics, t)
			}
			last := &v.Topics[len(v.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		}
	}
	return v.AppendTo(nil)
}

// Record returns the __transaction_state record of id: its state, or its
// tombstone if e is nil.
func Record(id string, e *Entry, valueVersion int16) record.Record {
	rec := record.Record{Key: EncodeKey(id)}
	if e != nil {
		rec.Value = EncodeValue(e, valueVersion)
	}
	return rec
}

// DecodeRecord decodes a __transaction_state record. A nil entry is a
// tombstone. A key of a version other than 0 is errUnknownRecord (Kafka
// skips those too); anything else that does not decode is errBadRecord.
func DecodeRecord(key, value []byte) (string, *Entry, error) {
	if len(key) < 2 {
		return "", nil, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	if version := int16(key[0])<<8 | int16(key[1]); version != keyVersion {
		return "", nil, fmt.Errorf("%w: key version %d", errUnknownRecord, version)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	e, err := decodeValue(value)
	if err != nil {
		return "", nil, fmt.Errorf("%w: transactional id %q: %v", errBadRecord, k.TransactionalID, err)
	}
	return k.TransactionalID, e, nil
}

func decodeValue(value []byte) (*Entry, error) {
	if len(value) < 2 {
		return nil, fmt.Errorf("value of %d bytes", len(value))
	}
	if version := int16(value[0])<<8 | int16(value[1]); version < 0 || version > maxValueVersion {
		return nil, fmt.Errorf("value version %d", version)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, err
	}
	e := &Entry{ProducerID: v.ProducerID, PreviousProducerID: v.PreviousProducerID,
		NextProducerID: v.NextProducerID, ProducerEpoch: v.ProducerEpoch, TimeoutMs: v.TimeoutMillis,
		State: State(v.State), LastUpdateMs: v.LastUpdateTimestamp, StartMs: v.StartTimestamp,
		ClientTxnVersion: v.ClientTransactionVersion}
	if e.State < Empty || e.State > PrepareEpochFence {
		return nil, fmt.Errorf("state %d", v.State)
	}
	// Kafka ignores the partitions of an Empty value.
	if e.State != Empty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				e.Partitions = append(e.Partitions, TopicPartition{t.Topic, p})
			}
		}
		slices.SortFunc(e.Partitions, compareTP)
		e.Partitions = slices.Compact(e.Partitions)
	}
	return e, nil
}
