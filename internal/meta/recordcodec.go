package meta

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
)

// A record's binary form, the future Raft log entry
// (docs/format/meta-records.md). Integers are big-endian; strings and
// maps are encoded as in the state file.
//
//	version u8 | type u8 | body
//
// There is no CRC: the log that carries records checksums its entries.
const recordVersion = 1

// EncodeRecord returns r's binary form. Maps are written in key order,
// so equal records encode to equal bytes.
func EncodeRecord(r Record) []byte {
	b := []byte{recordVersion, byte(r.recordType())}
	switch r := r.(type) {
	case TopicRecord:
		b = append(b, r.ID[:]...)
		b = appendString(b, r.Name)
		b = binary.BigEndian.AppendUint16(b, uint16(r.ReplicationFactor))
		b = append(b, topicFlags(r.Internal))
		b = appendStringMap(b, r.Configs)
		b = binary.AppendUvarint(b, uint64(len(r.Partitions)))
		for _, p := range r.Partitions {
			b = appendPartition(b, p)
		}
	case RemoveTopicRecord:
		b = append(b, r.ID[:]...)
	case PartitionRecord:
		b = append(b, r.TopicID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Index))
		b = appendPartition(b, r.Partition)
	case ConfigRecord:
		b = append(b, byte(r.Type))
		b = appendString(b, r.Name)
		b = appendStringMap(b, r.Configs)
	case BrokerRecord:
		b = appendBroker(b, r.Broker)
	case BrokerFenceRecord:
		b = binary.BigEndian.AppendUint32(b, uint32(r.ID))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Epoch))
		b = append(b, brokerFlags(Broker{Fenced: r.Fenced}))
	case ProducerIDsRecord:
		b = binary.BigEndian.AppendUint32(b, uint32(r.Broker))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Start))
		b = binary.BigEndian.AppendUint64(b, uint64(r.End))
	case ScramCredentialRecord:
		b = appendString(b, r.User)
		b = appendCredential(b, r.Credential)
		if r.CreateOnly {
			b = append(b, scramFlagCreateOnly)
		} else {
			b = append(b, 0)
		}
	case RemoveScramCredentialRecord:
		b = appendString(b, r.User)
		b = append(b, byte(r.Mechanism))
	case ACLRecord:
		b = appendACL(b, r.ID, r.Binding)
	case RemoveACLRecord:
		b = append(b, r.ID[:]...)
	}
	return b
}

// DecodeRecord parses a record. Any defect is an error wrapping
// ErrInvalidRecord; no input makes it panic or allocate more than the
// input's length allows. It checks the encoding only: whether the record
// fits an image is Apply's business.
func DecodeRecord(b []byte) (Record, error) {
	r := &reader{b: b, class: ErrInvalidRecord}
	head := r.bytes(2)
	if head == nil {
		return nil, r.err
	}
	if head[0] != recordVersion {
		return nil, fmt.Errorf("%w: unsupported record version %d (this build reads %d)", ErrInvalidRecord, head[0], recordVersion)
	}
	rec := r.record(recordType(head[1]))
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return nil, r.err
	}
	return rec, nil
}

func (r *reader) record(typ recordType) Record {
	switch typ {
	case typeTopic:
		t := TopicRecord{ID: r.id(), Name: r.str(MaxTopicNameLen), ReplicationFactor: int16(r.u16()), Internal: r.flags()}
		t.Configs = r.stringMap("topic record")
		n := r.count(minPartitionLen)
		for i := uint64(0); i < n && r.err == nil; i++ {
			t.Partitions = append(t.Partitions, r.partition())
		}
		return t
	case typeRemoveTopic:
		return RemoveTopicRecord{ID: r.id()}
	case typePartition:
		return PartitionRecord{TopicID: r.id(), Index: int32(r.u32()), Partition: r.partition()}
	case typeConfig:
		c := ConfigRecord{Type: kmsg.ConfigResourceType(int8(r.u8())), Name: r.str(len(r.b))}
		c.Configs = r.stringMap("config record")
		return c
	case typeBroker:
		return BrokerRecord{r.broker()}
	case typeBrokerFence:
		return BrokerFenceRecord{ID: int32(r.u32()), Epoch: int64(r.u64()), Fenced: r.u8()&brokerFenced != 0}
	case typeProducerIDs:
		return ProducerIDsRecord{Broker: int32(r.u32()), Start: int64(r.u64()), End: int64(r.u64())}
	case typeScramCredential:
		return r.scramCredentialRecord()
	case typeRemoveScramCredential:
		return RemoveScramCredentialRecord{User: r.str(len(r.b)), Mechanism: auth.Mechanism(int8(r.u8()))}
	case typeACL:
		return r.acl()
	case typeRemoveACL:
		return RemoveACLRecord{ID: r.id()}
	}
	r.fail(fmt.Sprintf("unknown record type %d", typ))
	return nil
}

func (r *reader) id() [16]byte {
	var id [16]byte
	copy(id[:], r.bytes(16))
	return id
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}
