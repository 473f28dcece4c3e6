package meta

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The state file. Every write replaces the whole file (see store.go), so
// the format is a single framed snapshot; docs/format/meta.md has the byte
// diagram. All integers are big-endian unless marked uvarint.
//
//	magic "EDMT" | version u16 | body length u32 | body | crc32c u32
//
// The CRC-32C (Castagnoli) covers everything before it. Version 2 added
// the dynamic configs of BROKER and GROUP resources after the topics;
// version 3, written always, adds each partition's replicas and
// leadership to its topic and always has the resource section; version 4
// adds the registered brokers and the next producer id; version 5 follows
// each broker with a flags byte (fenced); version 6 adds the SCRAM
// credentials of users (users.go); version 7 the ACLs (acls.go). Files of versions 1 and 2 load
// with every partition on this node, brokers of version 4 fenced.
const (
	fileMagic     = "EDMT"
	formatVersion = 7 // the newest version this build reads and writes
	headerLen     = 4 + 2 + 4
	trailerLen    = 4
	// maxBodyLen bounds the allocation a length prefix can ask for; at
	// roughly 100 bytes a topic it allows millions of topics.
	maxBodyLen = 256 << 20
	maxIDLen   = 64 // cluster IDs are 22 characters
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeState serialises img with topics in name order, so equal images
// encode to equal bytes.
func encodeState(img *Image) []byte {
	var body []byte
	body = appendString(body, img.clusterID)
	body = binary.AppendUvarint(body, uint64(len(img.topics)))
	for _, name := range slices.Sorted(maps.Keys(img.topics)) {
		body = appendTopic(body, img.topics[name])
	}
	body = appendConfigs(body, img.configs)
	body = binary.AppendUvarint(body, uint64(len(img.brokers)))
	for _, br := range img.Brokers() {
		body = appendBroker(body, br)
		body = append(body, brokerFlags(br))
	}
	body = binary.BigEndian.AppendUint64(body, uint64(img.nextProducerID))
	body = appendUsers(body, img.users)
	body = appendACLs(body, img)
	out := make([]byte, 0, headerLen+len(body)+trailerLen)
	out = append(out, fileMagic...)
	out = binary.BigEndian.AppendUint16(out, formatVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func appendTopic(b []byte, t Topic) []byte {
	b = appendString(b, t.Name)
	b = append(b, t.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Partitions))
	b = binary.BigEndian.AppendUint16(b, uint16(t.ReplicationFactor))
	b = append(b, topicFlags(t.Internal))
	b = appendStringMap(b, t.Configs)
	for _, p := range t.Assignments {
		b = appendPartition(b, p)
	}
	return b
}

func topicFlags(internal bool) byte {
	if internal {
		return flagInternal
	}
	return 0
}

const flagInternal = 1 << 0

func appendPartition(b []byte, p Partition) []byte {
	b = appendInt32s(b, p.Replicas)
	b = appendInt32s(b, p.ISR)
	b = binary.BigEndian.AppendUint32(b, uint32(p.Leader))
	b = binary.BigEndian.AppendUint32(b, uint32(p.LeaderEpoch))
	return binary.BigEndian.AppendUint32(b, uint32(p.PartitionEpoch))
}

func appendInt32s(b []byte, vs []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// appendConfigs encodes the resource configs in (type, name) order and
// each resource's configs in key order.
func appendConfigs(b []byte, configs map[ConfigResource]map[string]string) []byte {
	keys := slices.SortedFunc(maps.Keys(configs), func(x, y ConfigResource) int {
		return cmp.Or(cmp.Compare(x.Type, y.Type), cmp.Compare(x.Name, y.Name))
	})
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, r := range keys {
		b = append(b, byte(r.Type))
		b = appendString(b, r.Name)
		b = appendStringMap(b, configs[r])
	}
	return b
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeState parses a state file; node is this node's id, the replica
// of every partition of a file older than version 3. Any defect is an
// error wrapping ErrCorrupt; no input makes it panic or allocate more
// than the input's length allows.
func decodeState(b []byte, node int32) (*Image, error) {
	version, body, err := unframe(b)
	if err != nil {
		return nil, err
	}
	return decodeBody(body, version, node)
}

// decodeBody parses the body of a file of the given version. Each topic
// goes through Apply, so a file holds nothing a record could not create.
func decodeBody(body []byte, version uint16, node int32) (*Image, error) {
	r := reader{b: body}
	img := NewImage(r.str(maxIDLen))
	n := r.count(minTopicLen)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if err := img.applyTopic(r.topic(version, node)); err != nil {
			r.fail(err.Error())
		}
	}
	if version >= 2 {
		img.configs = r.configs(version == 2)
	}
	if version >= 4 {
		n := r.count(minBrokerLen)
		for i := uint64(0); i < n && r.err == nil; i++ {
			br := r.broker()
			br.Fenced = version < 5 || r.u8()&brokerFenced != 0
			if err := img.applyBroker(BrokerRecord{br}); err != nil {
				r.fail(err.Error())
			} else {
				img.brokers[br.ID] = br // with its fenced flag: applyBroker fences
			}
		}
		if img.nextProducerID = int64(r.u64()); img.nextProducerID < 0 {
			r.fail("negative next producer id")
		}
	}
	if version >= 6 {
		r.users(img)
	}
	if version >= 7 {
		r.readACLs(img)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err == nil && img.clusterID == "" {
		r.fail("empty cluster id")
	}
	if r.err != nil {
		return nil, r.err
	}
	return img, nil
}

// unframe checks magic, version, length and CRC and returns the version
// and the body.
func unframe(b []byte) (uint16, []byte, error) {
	if len(b) < headerLen+trailerLen {
		return 0, nil, fmt.Errorf("%w: %d bytes is shorter than the frame", ErrCorrupt, len(b))
	}
	if string(b[:4]) != fileMagic {
		return 0, nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:4])
	}
	v := binary.BigEndian.Uint16(b[4:])
	if v < 1 || v > formatVersion {
		return 0, nil, fmt.Errorf("%w: unsupported format version %d (this build reads 1 to %d)", ErrCorrupt, v, formatVersion)
	}
	n := binary.BigEndian.Uint32(b[6:])
	if n > maxBodyLen || uint64(n) != uint64(len(b)-headerLen-trailerLen) {
		return 0, nil, fmt.Errorf("%w: body length %d does not match file size %d", ErrCorrupt, n, len(b))
	}
	end := headerLen + int(n)
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return 0, nil, fmt.Errorf("%w: crc32c %08x, want %08x", ErrCorrupt, got, want)
	}
	return v, b[headerLen:end], nil
}

// minTopicLen is the fewest bytes a topic can encode to, used to bound
// the topic count before looping.
const minTopicLen = 1 + 16 + 4 + 2 + 1 + 1

// reader is a bounds-checked cursor with a sticky error: after the first
// failure every read returns zero values.
type reader struct {
	b     []byte
	err   error
	class error // the sentinel errors wrap; ErrCorrupt when nil
}

func (r *reader) fail(why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", cmp.Or(r.class, ErrCorrupt), why)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count and rejects one that cannot fit in the
// remaining bytes at minLen bytes an element.
func (r *reader) count(minLen int) uint64 {
	n := r.uvarint()
	if n > uint64(len(r.b)/minLen) {
		r.fail(fmt.Sprintf("count %d exceeds remaining %d bytes", n, len(r.b)))
		return 0
	}
	return n
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail(fmt.Sprintf("need %d bytes, have %d", n, len(r.b)))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) str(maxLen int) string {
	n := r.uvarint()
	if n > uint64(maxLen) {
		r.fail(fmt.Sprintf("string length %d exceeds %d", n, maxLen))
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// topic reads a topic as the record that creates it. Before version 3
// partitions had no replicas recorded: they are node's.
func (r *reader) topic(version uint16, node int32) TopicRecord {
	t := TopicRecord{Name: r.str(MaxTopicNameLen)}
	copy(t.ID[:], r.bytes(16))
	n := int32(r.u32())
	t.ReplicationFactor = int16(r.u16())
	t.Internal = r.flags()
	t.Configs = r.stringMap("topic " + strconv.Quote(t.Name))
	if version < 3 {
		if n > maxLegacyPartitions {
			r.fail(fmt.Sprintf("topic %q: %d partitions", t.Name, n))
		}
		for i := int32(0); i < n && r.err == nil; i++ {
			t.Partitions = append(t.Partitions, LocalPartition(node))
		}
		return t
	}
	if n < 0 || int64(n) > int64(len(r.b)/minPartitionLen) {
		r.fail(fmt.Sprintf("topic %q: %d partitions exceed the remaining %d bytes", t.Name, n, len(r.b)))
	}
	for i := int32(0); i < n && r.err == nil; i++ {
		t.Partitions = append(t.Partitions, r.partition())
	}
	return t
}

// maxLegacyPartitions bounds the partitions a version 1 or 2 topic may
// claim, since they take no bytes there to bound them by: every build that
// wrote those versions refused to create more.
const maxLegacyPartitions = 10000

// minPartitionLen is the fewest bytes a partition encodes to.
const minPartitionLen = 1 + 1 + 4 + 4 + 4

func (r *reader) flags() bool {
	flags := r.bytes(1)
	if flags == nil {
		return false
	}
	if flags[0]&^flagInternal != 0 {
		r.fail(fmt.Sprintf("unknown topic flags %#x", flags[0]))
	}
	return flags[0]&flagInternal != 0
}

func (r *reader) partition() Partition {
	p := Partition{Replicas: r.int32s(), ISR: r.int32s()}
	p.Leader = int32(r.u32())
	p.LeaderEpoch = int32(r.u32())
	p.PartitionEpoch = int32(r.u32())
	return p
}

func (r *reader) int32s() []int32 {
	n := r.count(4)
	out := make([]int32, 0, n)
	for range n {
		out = append(out, int32(r.u32()))
	}
	return out
}

// stringMap reads a config map; what names its owner in errors.
func (r *reader) stringMap(what string) map[string]string {
	n := r.count(2)
	m := make(map[string]string, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.str(len(r.b))
		v := r.str(len(r.b))
		if _, dup := m[k]; dup {
			r.fail(fmt.Sprintf("%s: duplicate config %q", what, k))
		}
		m[k] = v
	}
	return m
}

// minResourceLen is the fewest bytes a resource's configs can encode to:
// type, empty name, one config with empty key and value.
const minResourceLen = 1 + 1 + 1 + 2

// configs reads the resource configs: each of a stored type, named once,
// with at least one config. Version 2 wrote the section only when it had
// a resource (nonEmpty); an empty one decodes as nil.
func (r *reader) configs(nonEmpty bool) map[ConfigResource]map[string]string {
	n := r.count(minResourceLen)
	if n == 0 {
		if nonEmpty {
			r.fail("empty resource config section")
		}
		return nil
	}
	out := make(map[ConfigResource]map[string]string, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var res ConfigResource
		if t := r.bytes(1); t != nil {
			res.Type = kmsg.ConfigResourceType(int8(t[0]))
		}
		res.Name = r.str(len(r.b))
		what := fmt.Sprintf("resource %v %q", res.Type, res.Name)
		cfg := r.stringMap(what)
		switch _, dup := out[res]; {
		case r.err != nil:
		case !storedConfigType(res.Type):
			r.fail(fmt.Sprintf("%s: unknown resource type", what))
		case dup:
			r.fail(fmt.Sprintf("duplicate %s", what))
		case len(cfg) == 0:
			r.fail(fmt.Sprintf("%s: no configs", what))
		}
		out[res] = cfg
	}
	return out
}
