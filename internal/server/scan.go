package server

//go:generate sh -c "go run ./scangen -o scantable.go \"$(go list -m -f '{{.Dir}}' github.com/twmb/franz-go)/generate/definitions\""

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Kafka 4.x refuses requests with more array elements or tagged fields
// than these; so does Eddy, before decoding the request.
const (
	maxArrayElements = 1_000_000
	maxTaggedFields  = 10_000
	// tagsMapBytes and tagBytes bound what a non-empty set of n unknown
	// tagged fields costs once decoded into a Go map: tagsMapBytes plus
	// tagBytes each. A map's table doubles as it grows, the old tables
	// garbage too, so an entry costs up to ~180 bytes just after a growth.
	tagsMapBytes = 320
	tagBytes     = 192
)

var (
	errTooManyElements = errors.New("server: array has more than 1000000 elements")
	errTooManyTags     = errors.New("server: more than 10000 tagged fields")
	errScanTruncated   = errors.New("server: request body ends inside a field")
	errScanMalformed   = errors.New("server: malformed field in request body")
	errScanUnknown     = errors.New("server: no wire schema for request key and version")
	errDecodedTooLarge = errors.New("server: decoded request larger than queued.max.request.bytes")
)

// wireKind is how a field is encoded; scantable.go names one per field.
type wireKind uint8

const (
	wireBool wireKind = iota + 1
	wireInt8
	wireInt16
	wireUint16
	wireInt32
	wireInt64
	wireFloat64
	wireUint32
	wireUUID
	wireString
	wireBytes
	wireArray
	wireStruct
)

// wireWidth is the encoded size of the fixed-width kinds.
var wireWidth = [...]int{wireBool: 1, wireInt8: 1, wireInt16: 2, wireUint16: 2, wireInt32: 4, wireInt64: 8, wireFloat64: 8, wireUint32: 4, wireUUID: 16}

// scanRequest is one request API in scantable.go: versions up to
// maxVersion, compact encodings and tagged fields from flexibleFrom (-1:
// never), fields in scanStructs[root].
type scanRequest struct {
	key, maxVersion, flexibleFrom int16
	root                          int
}

// scanStruct is a struct of a request, its fields in wire order.
type scanStruct struct {
	name   string
	fields []scanField
}

// scanField is one field: its kmsg Go name, kind, the versions it is in
// (maxV -1: no upper bound), the first version where it may be null
// (nullFrom, -1: never), its tag (-1: in the body, not tagged), and for
// arrays and structs the element kind and the scanStructs index.
type scanField struct {
	name                      string
	kind, elem                wireKind
	minV, maxV, nullFrom, tag int16
	strct                     int
}

func (f *scanField) in(version int16) bool {
	return version >= f.minV && (f.maxV < 0 || version <= f.maxV)
}

func (f *scanField) nullable(version int16) bool {
	return f.nullFrom >= 0 && version >= f.nullFrom
}

// scanDecodedSize walks a request body on the wire without decoding it
// and returns the memory kmsg's ReadFrom allocates decoding it, in the
// model decoded requests are charged with: a slice costs its capacity
// times its element size plus what its elements hold, a string its length
// (ReadFrom copies it), a pointer its pointee, a non-empty set of unknown
// tagged fields tagsMapBytes plus tagBytes each; byte fields alias the
// frame. It refuses an array or tagged-field section over Kafka's limits
// as soon as it reads its count.
func scanDecodedSize(key, version int16, body []byte) (int64, error) {
	i := sort.Search(len(scanRequests), func(i int) bool { return scanRequests[i].key >= key })
	if i == len(scanRequests) || scanRequests[i].key != key || version < 0 || version > scanRequests[i].maxVersion {
		return 0, fmt.Errorf("%w: key %d v%d", errScanUnknown, key, version)
	}
	r := &scanRequests[i]
	s := wireScan{src: body, version: version, flexible: r.flexibleFrom >= 0 && version >= r.flexibleFrom, mem: scanMemory()}
	return s.structure(r.root)
}

// wireScan is a cursor over a body; like kmsg, it reads every field with
// the request's version and flexibility.
type wireScan struct {
	src      []byte
	version  int16
	flexible bool
	mem      *scanMem
}

func (s *wireScan) structure(idx int) (int64, error) {
	st, mem := &scanStructs[idx], s.mem.fields[idx]
	var total int64
	for i := range st.fields {
		f := &st.fields[i]
		if f.tag >= 0 || !f.in(s.version) {
			continue
		}
		n, err := s.field(f, &mem[i])
		if err != nil {
			return 0, fmt.Errorf("%s.%s: %w", st.name, f.name, err)
		}
		total += n
	}
	if !s.flexible {
		return total, nil
	}
	n, err := s.tags(st, mem)
	if err != nil {
		return 0, fmt.Errorf("%s tagged fields: %w", st.name, err)
	}
	return total + n, nil
}

func (s *wireScan) field(f *scanField, m *fieldMem) (int64, error) {
	switch f.kind {
	case wireString:
		return s.str(f.nullable(s.version), m.ptr)
	case wireBytes:
		return 0, s.bytes(f.nullable(s.version))
	case wireArray:
		return s.array(f, m)
	case wireStruct:
		if f.nullable(s.version) {
			present, err := s.fixed(1)
			if err != nil || int8(present[0]) == -1 {
				return 0, err
			}
		}
		n, err := s.structure(f.strct)
		return n + m.ptr, err
	}
	_, err := s.fixed(wireWidth[f.kind])
	return 0, err
}

// array reads an array's elements; like kmsg, a negative count is an
// empty (or null) array whether or not the field is nullable.
func (s *wireScan) array(f *scanField, m *fieldMem) (int64, error) {
	n, err := s.arrayLen()
	if err != nil || n <= 0 {
		return 0, err
	}
	if n > maxArrayElements {
		return 0, fmt.Errorf("%w: %d", errTooManyElements, n)
	}
	total := s.mem.sliceBytes(int64(n), m.elem, m.elemPtrs)
	switch f.elem {
	case wireStruct:
		for range n {
			k, err := s.structure(f.strct)
			if err != nil {
				return 0, err
			}
			total += k
		}
	case wireString:
		for range n {
			k, err := s.str(false, 0)
			if err != nil {
				return 0, err
			}
			total += k
		}
	default:
		_, err = s.fixed(int(n) * wireWidth[f.elem])
	}
	return total, err
}

// tags reads a tagged-field section: known tags are decoded into their
// fields, the others are kept as unknown tags.
func (s *wireScan) tags(st *scanStruct, mem []fieldMem) (int64, error) {
	n, err := s.uvarint()
	if err != nil {
		return 0, err
	}
	if n > maxTaggedFields {
		return 0, fmt.Errorf("%w: %d", errTooManyTags, n)
	}
	var total, unknown int64
	for range n {
		key, err := s.uvarint()
		if err != nil {
			return 0, err
		}
		size, err := s.uvarint()
		if err != nil {
			return 0, err
		}
		body, err := s.fixed(int(size))
		if err != nil {
			return 0, err
		}
		i := taggedField(st, key)
		if i < 0 {
			unknown++
			continue
		}
		sub := wireScan{src: body, version: s.version, flexible: s.flexible, mem: s.mem}
		k, err := sub.field(&st.fields[i], &mem[i])
		if err != nil {
			return 0, fmt.Errorf("tag %d: %w", key, err)
		}
		total += k
	}
	if unknown > 0 {
		total += tagsMapBytes + unknown*tagBytes
	}
	return total, nil
}

func taggedField(st *scanStruct, key uint32) int {
	for i := range st.fields {
		if t := st.fields[i].tag; t >= 0 && uint32(t) == key {
			return i
		}
	}
	return -1
}

func (s *wireScan) fixed(n int) ([]byte, error) {
	if n < 0 || n > len(s.src) {
		return nil, errScanTruncated
	}
	b := s.src[:n]
	s.src = s.src[n:]
	return b, nil
}

// uvarint reads an unsigned varint of at most 32 bits, as kmsg does: five
// bytes at most, the fifth holding the top four bits.
func (s *wireScan) uvarint() (uint32, error) {
	var x uint32
	for i := range 5 {
		if i >= len(s.src) {
			return 0, errScanTruncated
		}
		b := s.src[i]
		if i == 4 && b > 0x0f {
			return 0, errScanMalformed
		}
		x |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			s.src = s.src[i+1:]
			return x, nil
		}
	}
	panic("unreachable")
}

func (s *wireScan) arrayLen() (int32, error) {
	if s.flexible {
		n, err := s.uvarint()
		return int32(n) - 1, err
	}
	b, err := s.fixed(4)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// length reads the size of a string or byte field: a compact uvarint
// (size plus one) in flexible versions, else an int16 or int32.
func (s *wireScan) length(width int) (int, error) {
	if s.flexible {
		n, err := s.uvarint()
		return int(n) - 1, err
	}
	b, err := s.fixed(width)
	if err != nil {
		return 0, err
	}
	if width == 2 {
		return int(int16(binary.BigEndian.Uint16(b))), nil
	}
	return int(int32(binary.BigEndian.Uint32(b))), nil
}

// str reads a string, which ReadFrom copies, into a pointer (ptr is its
// pointee size) if the Go field is one.
func (s *wireScan) str(nullable bool, ptr int64) (int64, error) {
	l, err := s.length(2)
	if err != nil {
		return 0, err
	}
	if l < 0 {
		if nullable {
			return 0, nil
		}
		return 0, errScanMalformed
	}
	_, err = s.fixed(l)
	return ptr + int64(l), err
}

// bytes reads a byte field, which aliases the frame. Like kmsg, it takes
// a length of -1 as empty even where null is not allowed.
func (s *wireScan) bytes(nullable bool) error {
	l, err := s.length(4)
	switch {
	case err != nil, l == -1:
		return err
	case l < 0 && !nullable:
		return errScanMalformed
	case l < 0:
		return nil
	}
	_, err = s.fixed(l)
	return err
}
