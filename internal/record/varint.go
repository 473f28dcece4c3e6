package record

import "math"

// uvarint reads an unsigned LEB128 value at b[i:]. It never reads past b and
// rejects encodings longer than 10 bytes or overflowing 64 bits.
func uvarint(b []byte, i int) (uint64, int, bool) {
	var x uint64
	var s uint
	for n := 0; n < 10; n++ {
		if i >= len(b) {
			return 0, i, false
		}
		c := b[i]
		i++
		if c < 0x80 {
			if n == 9 && c > 1 {
				return 0, i, false
			}
			return x | uint64(c)<<s, i, true
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, i, false
}

// varlong reads a zig-zag varint as int64.
func varlong(b []byte, i int) (int64, int, bool) {
	u, i, ok := uvarint(b, i)
	return int64(u>>1) ^ -int64(u&1), i, ok
}

// varint reads a zig-zag varint that must fit in an int32.
func varint(b []byte, i int) (int32, int, bool) {
	v, i, ok := varlong(b, i)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, i, false
	}
	return int32(v), i, true
}

// bytesLen reads a varint length prefix that may be -1 (null) and must fit
// in the rest of b. It returns the length (or -1) and the position after it.
func bytesLen(b []byte, i int) (int, int, bool) {
	n, i, ok := varint(b, i)
	if !ok || n < -1 || int(n) > len(b)-i {
		return 0, i, false
	}
	return int(n), i, true
}
