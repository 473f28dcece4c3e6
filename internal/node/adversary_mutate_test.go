package node_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// fuzzCase is what one attack sends on one connection: raw bytes holding
// one or more frames, and how many answers a correct broker gives at most.
type fuzzCase struct {
	mutation string
	raw      []byte
	answers  int  // frames sent; the node answers each or closes
	valid    bool // unmutated: must be answered, and the answer must decode
}

// seedRequest is one valid request, encoded.
type seedRequest struct {
	key, version int16
	flexible     bool
	body         []byte
}

func newSeed(req kmsg.Request) seedRequest {
	return seedRequest{key: req.Key(), version: req.GetVersion(), flexible: req.IsFlexible(), body: req.AppendTo(nil)}
}

func (s seedRequest) frame(body []byte) []byte {
	return rawFrame(s.key, s.version, 1, s.flexible, body)
}

// mutation names, in the order cases cycle through them.
var mutations = []string{"bitflip", "truncate", "int32", "int16", "varint", "version", "key", "tags", "header-tags", "dup", "garbage", "frame-size", "repeat-slice", "splice"}

// hugeInt32s replace counts and lengths: huge, negative, just past any
// limit. All are above controller.MaxPartitions, so a mutated partition count
// cannot legitimately make the node create thousands of files.
var hugeInt32s = []uint32{math.MaxInt32, 0xffffffff, 0x80000000, 0x7ffffff0, 0x01000000, 0xfffffffe}

// mutate applies the named mutation to s with rng's choices.
func mutate(rng *rand.Rand, s seedRequest, name string) fuzzCase {
	body := append([]byte(nil), s.body...)
	c := fuzzCase{mutation: name, answers: 1}
	switch name {
	case "bitflip":
		for range 1 + rng.IntN(4) {
			if len(body) > 0 {
				body[rng.IntN(len(body))] ^= 1 << rng.IntN(8)
			}
		}
		c.raw = s.frame(body)
	case "truncate":
		c.raw = s.frame(body[:rng.IntN(len(body)+1)])
	case "int32":
		c.raw = s.frame(overwrite(rng, body, 4, func(b []byte) { binary.BigEndian.PutUint32(b, hugeInt32s[rng.IntN(len(hugeInt32s))]) }))
	case "int16":
		vals := []uint16{0x7fff, 0xffff, 0x8000, 0xfffe}
		c.raw = s.frame(overwrite(rng, body, 2, func(b []byte) { binary.BigEndian.PutUint16(b, vals[rng.IntN(len(vals))]) }))
	case "varint":
		c.raw = s.frame(hugeVarint(rng, body))
	case "version":
		c.raw = otherVersion(rng, s, body)
	case "key":
		keys := broker.APIVersionKeys()
		k := keys[rng.IntN(len(keys))].ApiKey
		c.raw = rawFrame(k, s.version, 1, s.flexible, body)
	case "tags":
		if s.flexible && len(body) > 0 && body[len(body)-1] == 0 {
			body = append(body[:len(body)-1], randomTags(rng)...)
		} else {
			body = append(body, randomTags(rng)...)
		}
		c.raw = s.frame(body)
	case "header-tags":
		c.raw = headerTags(rng, s, body)
	case "dup":
		n := 2 + rng.IntN(4)
		for range n {
			c.raw = append(c.raw, s.frame(body)...)
		}
		c.answers, c.valid = n, true
	case "garbage":
		g := make([]byte, rng.IntN(64))
		for i := range g {
			g[i] = byte(rng.UintN(256))
		}
		c.raw = s.frame(g)
	case "frame-size":
		c.raw = s.frame(body)
		n := int32(binary.BigEndian.Uint32(c.raw)) + int32(rng.IntN(17)) - 8
		binary.BigEndian.PutUint32(c.raw, uint32(n))
	case "repeat-slice":
		c.raw = s.frame(repeatSlice(rng, body))
	case "splice":
		// A valid frame followed by a mutated one on the same connection:
		// the first must still be answered.
		c.raw = append(s.frame(body), mutate(rng, s, "bitflip").raw...)
		c.answers = 2
	}
	return c
}

// overwrite writes a width-byte value at a random offset, preferring
// offsets that hold a small value (likely a count or length).
func overwrite(rng *rand.Rand, body []byte, width int, put func([]byte)) []byte {
	if len(body) < width {
		return body
	}
	var cands []int
	for i := 0; i+width <= len(body); i++ {
		var v uint64
		for _, b := range body[i : i+width] {
			v = v<<8 | uint64(b)
		}
		if v > 0 && v < 256 {
			cands = append(cands, i)
		}
	}
	at := rng.IntN(len(body) - width + 1)
	if len(cands) > 0 && rng.IntN(4) != 0 {
		at = cands[rng.IntN(len(cands))]
	}
	put(body[at : at+width])
	return body
}

// hugeVarint replaces a small byte (a compact length or count in flexible
// versions) with a 5-byte varint near 2^32, or an over-long varint.
func hugeVarint(rng *rand.Rand, body []byte) []byte {
	var cands []int
	for i, b := range body {
		if b > 0 && b < 64 {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return body
	}
	at := cands[rng.IntN(len(cands))]
	repl := [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}, {0xfe, 0xff, 0xff, 0xff, 0x07}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}}[rng.IntN(3)]
	out := append([]byte(nil), body[:at]...)
	out = append(out, repl...)
	return append(out, body[at+1:]...)
}

// otherVersion sends the body under another version of the same API, or a
// version out of range.
func otherVersion(rng *rand.Rand, s seedRequest, body []byte) []byte {
	var lo, hi int16
	for _, k := range broker.APIVersionKeys() {
		if k.ApiKey == s.key {
			lo, hi = k.MinVersion, k.MaxVersion
		}
	}
	v := lo + int16(rng.IntN(int(hi-lo)+1))
	switch rng.IntN(4) {
	case 0:
		v = -1 - int16(rng.IntN(2))
	case 1:
		v = hi + 1 + int16(rng.IntN(3))
	}
	req := kmsg.RequestForKey(s.key)
	req.SetVersion(v)
	return rawFrame(s.key, v, 1, v >= 0 && req.IsFlexible(), body)
}

// randomTags is a tagged-field section with random tags, sometimes with
// sizes that lie about how many bytes follow.
func randomTags(rng *rand.Rand) []byte {
	n := 1 + rng.IntN(4)
	b := binary.AppendUvarint(nil, uint64(n))
	if rng.IntN(5) == 0 {
		b = binary.AppendUvarint(nil, uint64(rng.Uint32())) // a count no frame can hold
	}
	for range n {
		tags := []uint64{0, 1, 2, uint64(rng.IntN(100)), math.MaxInt32, math.MaxUint32}
		b = binary.AppendUvarint(b, tags[rng.IntN(len(tags))])
		size := rng.IntN(16)
		b = binary.AppendUvarint(b, uint64(size+rng.IntN(3)*rng.IntN(1<<20)))
		for range size {
			b = append(b, byte(rng.UintN(256)))
		}
	}
	return b
}

// headerTags puts random tagged fields in the request header (v2), where
// every flexible request may carry them.
func headerTags(rng *rand.Rand, s seedRequest, body []byte) []byte {
	b := make([]byte, 4, 32+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(s.key))
	b = binary.BigEndian.AppendUint16(b, uint16(s.version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	if s.flexible {
		b = append(b, randomTags(rng)...)
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// repeatSlice repeats a random slice of body many times, as an array with
// duplicated elements (or a duplicated field) would look.
func repeatSlice(rng *rand.Rand, body []byte) []byte {
	if len(body) < 2 {
		return body
	}
	i := rng.IntN(len(body) - 1)
	j := i + 1 + rng.IntN(min(32, len(body)-i-1)+1)
	j = min(j, len(body))
	out := append([]byte(nil), body[:j]...)
	for range 1 + rng.IntN(64) {
		out = append(out, body[i:j]...)
	}
	return append(out, body[j:]...)
}
