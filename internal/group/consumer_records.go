package group

// Encoding of Kafka's KIP-848 consumer group records (key versions 3–8 of
// __consumer_offsets, docs/format/group.md), which kmsg does not define.
// Keys are not flexible: an int16 version then int16-length strings. Values
// are flexible version 0: an int16 version, then compact strings and arrays
// (unsigned varint length + 1, 0 for null) and a tagged-field section after
// every struct. Decoding is bounds-checked: a short or malformed record is
// an error, never a panic, and unknown tagged fields are skipped.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Key versions of the consumer group records.
const (
	cgMetadataKeyVersion          = 3 // ConsumerGroupMetadata: group epoch
	cgPartitionMetadataKeyVersion = 4 // ConsumerGroupPartitionMetadata: subscribed topics
	cgMemberKeyVersion            = 5 // ConsumerGroupMemberMetadata
	cgTargetMetadataKeyVersion    = 6 // ConsumerGroupTargetAssignmentMetadata: assignment epoch
	cgTargetMemberKeyVersion      = 7 // ConsumerGroupTargetAssignmentMember
	cgCurrentKeyVersion           = 8 // ConsumerGroupCurrentMemberAssignment
)

// cgValueVersion is the only value version of every consumer group record.
const cgValueVersion = 0

// consumerRecord is one decoded consumer group record; a nil value is a
// tombstone. member is set for the per-member kinds (5, 7, 8).
type consumerRecord struct {
	kind   int16 // the key version
	group  string
	member string
	value  any // *cgMetadataValue, *cgTopicsValue, *cgMemberValue, *cgTargetEpochValue, *cgTargetValue, *cgCurrentValue
}

type cgMetadataValue struct{ epoch int32 }

type cgTopicMetadata struct {
	id         [16]byte
	name       string
	partitions int32
}

type cgTopicsValue struct{ topics []cgTopicMetadata }

type cgMemberValue struct {
	instanceID, rackID *string
	clientID, host     string
	topicNames         []string
	regex              *string
	rebalanceTimeout   int32
	assignor           *string
}

type cgTargetEpochValue struct{ epoch int32 }

// cgTopicPartitions is a topic's partitions, by topic id.
type cgTopicPartitions struct {
	id         [16]byte
	partitions []int32
}

type cgTargetValue struct{ partitions []cgTopicPartitions }

type cgCurrentValue struct {
	epoch, prevEpoch   int32
	state              int8
	assigned, revoking []cgTopicPartitions
}

// consumerKindNames names the record kinds, for logs.
var consumerKindNames = map[int16]string{
	cgMetadataKeyVersion:          "ConsumerGroupMetadata",
	cgPartitionMetadataKeyVersion: "ConsumerGroupPartitionMetadata",
	cgMemberKeyVersion:            "ConsumerGroupMemberMetadata",
	cgTargetMetadataKeyVersion:    "ConsumerGroupTargetAssignmentMetadata",
	cgTargetMemberKeyVersion:      "ConsumerGroupTargetAssignmentMember",
	cgCurrentKeyVersion:           "ConsumerGroupCurrentMemberAssignment",
}

// hasMember reports whether records of kind are per member.
func hasMember(kind int16) bool {
	return kind == cgMemberKeyVersion || kind == cgTargetMemberKeyVersion || kind == cgCurrentKeyVersion
}

// encode returns the record's key and value (nil for a tombstone).
func (r consumerRecord) encode() (key, value []byte) {
	key = binary.BigEndian.AppendUint16(nil, uint16(r.kind))
	key = appendKeyString(key, r.group)
	if hasMember(r.kind) {
		key = appendKeyString(key, r.member)
	}
	if r.value == nil {
		return key, nil
	}
	w := binary.BigEndian.AppendUint16(nil, cgValueVersion)
	switch v := r.value.(type) {
	case *cgMetadataValue:
		w = binary.BigEndian.AppendUint32(w, uint32(v.epoch))
	case *cgTopicsValue:
		w = appendLen(w, len(v.topics))
		for _, t := range v.topics {
			w = append(w, t.id[:]...)
			w = appendCompactString(w, &t.name)
			w = binary.BigEndian.AppendUint32(w, uint32(t.partitions))
			w = appendLen(w, 0) // PartitionMetadata (racks): none
			w = append(w, 0)    // tagged fields
		}
	case *cgMemberValue:
		w = appendCompactString(w, v.instanceID)
		w = appendCompactString(w, v.rackID)
		w = appendCompactString(w, &v.clientID)
		w = appendCompactString(w, &v.host)
		w = appendLen(w, len(v.topicNames))
		for _, t := range v.topicNames {
			w = appendCompactString(w, &t)
		}
		w = appendCompactString(w, v.regex)
		w = binary.BigEndian.AppendUint32(w, uint32(v.rebalanceTimeout))
		w = appendCompactString(w, v.assignor)
	case *cgTargetEpochValue:
		w = binary.BigEndian.AppendUint32(w, uint32(v.epoch))
	case *cgTargetValue:
		w = appendTopicPartitions(w, v.partitions)
	case *cgCurrentValue:
		w = binary.BigEndian.AppendUint32(w, uint32(v.epoch))
		w = binary.BigEndian.AppendUint32(w, uint32(v.prevEpoch))
		w = append(w, byte(v.state))
		w = appendTopicPartitions(w, v.assigned)
		w = appendTopicPartitions(w, v.revoking)
	default:
		panic(fmt.Sprintf("group: consumer record value %T", r.value))
	}
	return key, append(w, 0) // no tagged fields
}

func appendKeyString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendLen is a compact (non-null) array length.
func appendLen(b []byte, n int) []byte { return binary.AppendUvarint(b, uint64(n)+1) }

// appendCompactString is a compact nullable string (nil: null).
func appendCompactString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	b = appendLen(b, len(*s))
	return append(b, *s...)
}

func appendTopicPartitions(b []byte, ts []cgTopicPartitions) []byte {
	b = appendLen(b, len(ts))
	for _, t := range ts {
		b = append(b, t.id[:]...)
		b = appendLen(b, len(t.partitions))
		for _, p := range t.partitions {
			b = binary.BigEndian.AppendUint32(b, uint32(p))
		}
		b = append(b, 0) // tagged fields
	}
	return b
}

var errShort = errors.New("truncated")

// reader decodes a record; the first error sticks and every later read
// returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int8() int8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (r *reader) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *reader) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *reader) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad varint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

// keyString is a non-flexible (int16 length) string.
func (r *reader) keyString() string {
	n := r.int16()
	if n < 0 {
		r.fail(errors.New("null key string"))
		return ""
	}
	return string(r.take(int(n)))
}

// compactLen is a compact length, -1 for null. A length longer than what
// is left is an error, so a corrupt length cannot allocate much.
func (r *reader) compactLen(elemSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v == 0 {
		return -1
	}
	n := v - 1
	if n > math.MaxInt32 || int(n)*elemSize > len(r.b) {
		r.fail(errShort)
		return 0
	}
	return int(n)
}

func (r *reader) nullableString() *string {
	n := r.compactLen(1)
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(n))
	return &s
}

func (r *reader) string() string {
	s := r.nullableString()
	if s == nil {
		r.fail(errors.New("null string"))
		return ""
	}
	return *s
}

// arrayLen is a compact non-null array length.
func (r *reader) arrayLen(elemSize int) int {
	n := r.compactLen(elemSize)
	if n < 0 {
		r.fail(errors.New("null array"))
		return 0
	}
	return n
}

// tags skips a tagged-field section.
func (r *reader) tags() {
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		r.uvarint() // tag
		r.take(int(min(r.uvarint(), math.MaxInt32)))
	}
}

func (r *reader) topicPartitions() []cgTopicPartitions {
	n := r.arrayLen(18)
	var out []cgTopicPartitions
	for range n {
		t := cgTopicPartitions{id: r.uuid()}
		m := r.arrayLen(4)
		for range m {
			t.partitions = append(t.partitions, r.int32())
		}
		r.tags()
		if r.err != nil {
			return nil
		}
		out = append(out, t)
	}
	return out
}

// decodeConsumerRecord decodes a record of kind (a key version 3–8).
func decodeConsumerRecord(kind int16, key, value []byte) (consumerRecord, error) {
	rec := consumerRecord{kind: kind}
	kr := &reader{b: key}
	kr.int16()
	rec.group = kr.keyString()
	if hasMember(kind) {
		rec.member = kr.keyString()
	}
	if kr.err != nil {
		return rec, fmt.Errorf("%s key: %w", consumerKindNames[kind], kr.err)
	}
	if value == nil {
		return rec, nil
	}
	r := &reader{b: value}
	if v := r.int16(); r.err == nil && v != cgValueVersion {
		return rec, fmt.Errorf("%s value version %d", consumerKindNames[kind], v)
	}
	switch kind {
	case cgMetadataKeyVersion:
		rec.value = &cgMetadataValue{epoch: r.int32()}
	case cgPartitionMetadataKeyVersion:
		v := &cgTopicsValue{}
		n := r.arrayLen(21)
		for range n {
			t := cgTopicMetadata{id: r.uuid(), name: r.string(), partitions: r.int32()}
			for range r.arrayLen(5) { // partition racks, unused
				r.int32()
				for range r.arrayLen(1) {
					r.string()
				}
				r.tags()
			}
			r.tags()
			if r.err != nil {
				break
			}
			v.topics = append(v.topics, t)
		}
		rec.value = v
	case cgMemberKeyVersion:
		v := &cgMemberValue{instanceID: r.nullableString(), rackID: r.nullableString(), clientID: r.string(), host: r.string()}
		n := r.arrayLen(1)
		for range n {
			v.topicNames = append(v.topicNames, r.string())
			if r.err != nil {
				break
			}
		}
		v.regex, v.rebalanceTimeout, v.assignor = r.nullableString(), r.int32(), r.nullableString()
		rec.value = v
	case cgTargetMetadataKeyVersion:
		rec.value = &cgTargetEpochValue{epoch: r.int32()}
	case cgTargetMemberKeyVersion:
		rec.value = &cgTargetValue{partitions: r.topicPartitions()}
	case cgCurrentKeyVersion:
		v := &cgCurrentValue{epoch: r.int32(), prevEpoch: r.int32(), state: r.int8()}
		v.assigned = r.topicPartitions()
		v.revoking = r.topicPartitions()
		rec.value = v
	}
	r.tags()
	if r.err != nil {
		return rec, fmt.Errorf("%s value: %w", consumerKindNames[kind], r.err)
	}
	return rec, nil
}

// byTopicID is s grouped by topic id, sorted; partitions of topics without
// an id (deleted meanwhile) are left out.
func byTopicID(s tpSet, topicID func(string) ([16]byte, bool)) []cgTopicPartitions {
	var out []cgTopicPartitions
	var last string
	for _, tp := range s.sorted() {
		if len(out) == 0 || tp.topic != last {
			id, ok := topicID(tp.topic)
			if !ok {
				continue
			}
			last = tp.topic
			out = append(out, cgTopicPartitions{id: id})
		}
		out[len(out)-1].partitions = append(out[len(out)-1].partitions, tp.partition)
	}
	return out
}

// fromTopicIDs is the set named by ts; partitions of topic ids the cluster
// does not know (any more) are left out.
func fromTopicIDs(ts []cgTopicPartitions, topicName func([16]byte) (string, bool)) tpSet {
	out := tpSet{}
	for _, t := range ts {
		name, ok := topicName(t.id)
		if !ok {
			continue
		}
		for _, p := range t.partitions {
			out[topicPartition{name, p}] = true
		}
	}
	return out
}

// sortedNames is a sorted copy of a subscribed-topics map's keys.
func sortedNames(m map[string]int32) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
