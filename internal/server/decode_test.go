package server

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataBody is a Metadata request body naming n empty topics, each
// element as small as the version allows; tagged adds one unknown tagged
// field to each (flexible versions only), the costliest thing to decode.
func metadataBody(version int16, n int, tagged bool) []byte {
	var b []byte
	if version >= 9 {
		b = binary.AppendUvarint(b, uint64(n)+1)
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	for range n {
		if version >= 9 {
			b = append(b, 1) // compact string, empty
			if tagged {
				b = append(b, 1, 9, 0) // one tag, key 9, no bytes
			} else {
				b = append(b, 0)
			}
		} else {
			b = append(b, 0, 0)
		}
	}
	b = append(b, 1) // allow auto topic creation
	if version >= 8 {
		b = append(b, 0, 0)
	}
	if version >= 9 {
		b = append(b, 0)
	}
	return b
}

// TestDecodeFactorBoundsDecoding decodes the costliest Metadata requests
// and checks that what decoding allocates stays within the reservation
// the server makes for it, body × decodeFactor.
func TestDecodeFactorBoundsDecoding(t *testing.T) {
	for _, tc := range []struct {
		version int16
		tagged  bool
	}{{4, false}, {9, false}, {9, true}} {
		body := metadataBody(tc.version, 100_000, tc.tagged)
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(tc.version)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := req.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", tc.version, err)
		}
		runtime.ReadMemStats(&after)
		allocated := int64(after.TotalAlloc - before.TotalAlloc)
		if reserved := int64(len(body)) * decodeFactor(req); allocated > reserved {
			t.Errorf("v%d tagged=%v: decoding %d bytes allocated %d, more than the %d reserved", tc.version, tc.tagged, len(body), allocated, reserved)
		}
		t.Logf("v%d tagged=%v: %d bytes decode to %d (%.0f×), factor %d", tc.version, tc.tagged, len(body), allocated, float64(allocated)/float64(len(body)), decodeFactor(req))
		size, err := decodedSize(req)
		if err != nil || size > allocated*2 || size < allocated/4 {
			t.Errorf("v%d tagged=%v: estimated %d bytes for %d allocated (err %v)", tc.version, tc.tagged, size, allocated, err)
		}
	}
}

// TestDecodedSizeLimits refuses requests over Kafka's limits on array
// elements and tagged fields.
func TestDecodedSizeLimits(t *testing.T) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = make([]kmsg.MetadataRequestTopic, maxArrayElements+1)
	if _, err := decodedSize(req); !errors.Is(err, errTooManyElements) {
		t.Errorf("%d topics: %v", len(req.Topics), err)
	}
	req.Topics = req.Topics[:maxArrayElements]
	if _, err := decodedSize(req); err != nil {
		t.Errorf("%d topics: %v", len(req.Topics), err)
	}
	for i := range maxTaggedFields + 1 {
		req.Topics[7].UnknownTags.Set(uint32(i), nil)
	}
	if _, err := decodedSize(req); !errors.Is(err, errTooManyTags) {
		t.Errorf("%d tags: %v", req.Topics[7].UnknownTags.Len(), err)
	}
}

// TestLeadingArrayCheckedBeforeDecoding refuses a Metadata request naming
// more than a million topics from its array length alone.
func TestLeadingArrayCheckedBeforeDecoding(t *testing.T) {
	for _, version := range []int16{1, 4, 9, 12} {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(version)
		if err := checkLeadingArray(req, metadataBody(version, 1000, false)); err != nil {
			t.Errorf("v%d, 1000 topics: %v", version, err)
		}
		var body []byte
		if version >= 9 {
			body = binary.AppendUvarint(nil, maxArrayElements+2)
		} else {
			body = binary.BigEndian.AppendUint32(nil, maxArrayElements+1)
		}
		if err := checkLeadingArray(req, body); !errors.Is(err, errTooManyElements) {
			t.Errorf("v%d, a million and one topics: %v", version, err)
		}
	}
	if err := checkLeadingArray(kmsg.NewPtrDeleteTopicsRequest(), binary.BigEndian.AppendUint32(nil, maxArrayElements+1)); err != nil {
		t.Errorf("only Metadata is checked before decoding: %v", err)
	}
}
