package meta

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
)

// The state file. Every write replaces the whole file (see store.go), so
// the format is a single framed snapshot; docs/format/meta.md has the byte
// diagram. All integers are big-endian unless marked uvarint.
//
//	magic "EDMT" | version u16 | body length u32 | body | crc32c u32
//
// The CRC-32C (Castagnoli) covers everything before it.
const (
	fileMagic     = "EDMT"
	formatVersion = 1
	headerLen     = 4 + 2 + 4
	trailerLen    = 4
	// maxBodyLen bounds the allocation a length prefix can ask for; at
	// roughly 100 bytes a topic it allows millions of topics.
	maxBodyLen = 256 << 20
	maxIDLen   = 64 // cluster IDs are 22 characters
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeState serialises st with topics in name order, so equal states
// encode to equal bytes.
func encodeState(st *state) []byte {
	var body []byte
	body = appendString(body, st.clusterID)
	body = binary.AppendUvarint(body, uint64(len(st.topics)))
	for _, name := range slices.Sorted(maps.Keys(st.topics)) {
		body = appendTopic(body, st.topics[name])
	}
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
	var flags byte
	if t.Internal {
		flags |= flagInternal
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(t.Configs)))
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		b = appendString(b, k)
		b = appendString(b, t.Configs[k])
	}
	return b
}

const flagInternal = 1 << 0

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeState parses a state file. Any defect is an error wrapping
// ErrCorrupt; no input makes it panic or allocate more than the input's
// length allows.
func decodeState(b []byte) (*state, error) {
	body, err := unframe(b)
	if err != nil {
		return nil, err
	}
	return decodeBody(body)
}

// decodeBody parses the body of a version 1 file.
func decodeBody(body []byte) (*state, error) {
	r := reader{b: body}
	st := &state{clusterID: r.str(maxIDLen), topics: map[string]Topic{}, byID: map[[16]byte]string{}}
	n := r.count(minTopicLen)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if err := st.addDecoded(r.topic()); err != nil {
			r.fail(err.Error())
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err == nil && st.clusterID == "" {
		r.fail("empty cluster id")
	}
	if r.err != nil {
		return nil, r.err
	}
	return st, nil
}

// unframe checks magic, version, length and CRC and returns the body.
func unframe(b []byte) ([]byte, error) {
	if len(b) < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the frame", ErrCorrupt, len(b))
	}
	if string(b[:4]) != fileMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:4])
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != formatVersion {
		return nil, fmt.Errorf("%w: unsupported format version %d (this build reads %d)", ErrCorrupt, v, formatVersion)
	}
	n := binary.BigEndian.Uint32(b[6:])
	if n > maxBodyLen || uint64(n) != uint64(len(b)-headerLen-trailerLen) {
		return nil, fmt.Errorf("%w: body length %d does not match file size %d", ErrCorrupt, n, len(b))
	}
	end := headerLen + int(n)
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return nil, fmt.Errorf("%w: crc32c %08x, want %08x", ErrCorrupt, got, want)
	}
	return b[headerLen:end], nil
}

// minTopicLen is the fewest bytes a topic can encode to, used to bound
// the topic count before looping.
const minTopicLen = 1 + 16 + 4 + 2 + 1 + 1

// reader is a bounds-checked cursor with a sticky error: after the first
// failure every read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, why)
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

func (r *reader) topic() Topic {
	t := Topic{Name: r.str(MaxTopicNameLen)}
	copy(t.ID[:], r.bytes(16))
	t.Partitions = int32(r.u32())
	t.ReplicationFactor = int16(r.u16())
	flags := r.bytes(1)
	if flags != nil {
		if flags[0]&^flagInternal != 0 {
			r.fail(fmt.Sprintf("unknown topic flags %#x", flags[0]))
		}
		t.Internal = flags[0]&flagInternal != 0
	}
	n := r.count(2)
	t.Configs = make(map[string]string, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.str(len(r.b))
		v := r.str(len(r.b))
		if _, dup := t.Configs[k]; dup {
			r.fail(fmt.Sprintf("topic %q: duplicate config %q", t.Name, k))
		}
		t.Configs[k] = v
	}
	return t
}
