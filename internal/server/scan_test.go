package server

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const requestsPerVersion = 300

// TestScanExact checks, for every request key and version kmsg knows, that
// the scan of random requests succeeds whenever kmsg decodes them and
// predicts exactly what the oracle measures on the decoded request.
func TestScanExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		proto := kmsg.RequestForKey(key)
		if proto == nil {
			continue
		}
		for version := int16(0); version <= proto.MaxVersion(); version++ {
			decoded := checkScanExact(t, rng, key, version)
			if decoded < requestsPerVersion/2 {
				t.Errorf("%s v%d: only %d of %d random requests decode", kmsg.NameForKey(key), version, decoded, requestsPerVersion)
			}
		}
	}
}

func checkScanExact(t *testing.T, rng *rand.Rand, key, version int16) (decoded int) {
	t.Helper()
	for range requestsPerVersion {
		body, ok := randomRequest(rng, key, version)
		if !ok {
			continue
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if err := req.ReadFrom(body); err != nil {
			continue
		}
		decoded++
		size, err := scanDecodedSize(key, version, body)
		want, _ := decodedSize(req)
		if err != nil || size != want {
			t.Fatalf("%s v%d: scan says %d bytes (err %v), the decoded request holds %d; body %x", kmsg.NameForKey(key), version, size, err, want, body)
		}
	}
	return decoded
}

// worstFrames are requests made of empty elements (or unknown tagged
// fields), the costliest bodies to decode per byte, of several APIs.
func worstFrames() map[string]kmsg.Request {
	const n = 200_000
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(9)
	commit.Topics = make([]kmsg.OffsetCommitRequestTopic, n)
	deleteRecords := kmsg.NewPtrDeleteRecordsRequest()
	deleteRecords.SetVersion(0)
	deleteRecords.Topics = make([]kmsg.DeleteRecordsRequestTopic, n)
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(4)
	metadata.Topics = make([]kmsg.MetadataRequestTopic, n)
	for i := range metadata.Topics {
		metadata.Topics[i].Topic = new(string)
	}
	tagged := kmsg.NewPtrMetadataRequest()
	tagged.SetVersion(12)
	tagged.Topics = make([]kmsg.MetadataRequestTopic, n/4)
	for i := range tagged.Topics {
		tagged.Topics[i].UnknownTags.Set(9, nil)
	}
	manyTags := kmsg.NewPtrDeleteTopicsRequest()
	manyTags.SetVersion(6)
	for i := range maxTaggedFields {
		manyTags.UnknownTags.Set(uint32(100+i), nil)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(12)
	fetch.Topics = []kmsg.FetchRequestTopic{{Partitions: make([]kmsg.FetchRequestTopicPartition, n/10)}}
	return map[string]kmsg.Request{"OffsetCommit v9": commit, "DeleteRecords v0": deleteRecords, "Metadata v4": metadata,
		"Metadata v12 tagged": tagged, "DeleteTopics v6 10000 tags": manyTags, "Fetch v12 partitions": fetch}
}

// TestScanBoundsAllocation decodes the costliest requests and checks that
// what kmsg allocates stays within what the scan reserved for them.
func TestScanBoundsAllocation(t *testing.T) {
	const slack = 64 << 10
	for name, proto := range worstFrames() {
		body := proto.AppendTo(nil)
		size, err := scanDecodedSize(proto.Key(), proto.GetVersion(), body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req := kmsg.RequestForKey(proto.Key())
		req.SetVersion(proto.GetVersion())
		allocated := allocatedBy(func() {
			if err := req.ReadFrom(body); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		})
		bound := size + slack
		if raceBuild {
			bound += size
		}
		if allocated > bound {
			t.Errorf("%s: decoding %d bytes allocated %d, more than the %d the scan reserves", name, len(body), allocated, size)
		}
		t.Logf("%s: %d bytes decode to %d allocated, %d scanned (%.0f×)", name, len(body), allocated, size, float64(size)/float64(len(body)))
	}
}

// allocatedBy returns the bytes fn allocates.
func allocatedBy(fn func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// emptyTopicsDeleteRecords is a DeleteRecords v0 body of n topics with an
// empty name and no partitions.
func emptyTopicsDeleteRecords(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, make([]byte, 6*n)...)
	return binary.BigEndian.AppendUint32(b, 1000) // timeout
}

// TestScanLimits refuses, before allocating, arrays and tagged-field
// sections over Kafka's limits, of non-Metadata APIs too.
func TestScanLimits(t *testing.T) {
	scanMemory() // built once per process, on the first scan: not counted
	elements, million := emptyTopicsDeleteRecords(maxArrayElements+1), emptyTopicsDeleteRecords(maxArrayElements)
	// DeleteRecords v2: no topics, a timeout, then 10,001 empty tags.
	tags := append([]byte{1}, 0, 0, 0, 1)
	tags = binary.AppendUvarint(tags, maxTaggedFields+1)
	for i := range maxTaggedFields + 1 {
		tags = binary.AppendUvarint(tags, uint64(i))
		tags = append(tags, 0)
	}
	for _, tc := range []struct {
		name    string
		version int16
		body    []byte
		want    error
	}{
		{"a million and one elements", 0, elements, errTooManyElements},
		{"ten thousand and one tags", 2, tags, errTooManyTags},
		{"a million elements", 0, million, nil},
		{"a million and one elements, truncated", 0, elements[:len(elements)-10], errTooManyElements},
		{"a truncated million elements", 0, million[:len(million)-5], errScanTruncated},
	} {
		var err error
		allocated := allocatedBy(func() { _, err = scanDecodedSize(kmsg.DeleteRecords.Int16(), tc.version, tc.body) })
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if allocated > 64<<10 {
			t.Errorf("%s: scanning allocated %d bytes", tc.name, allocated)
		}
	}
}
