package meta

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
)

// sampleImage is the content of testdata/state-v1 with every partition
// on node.
func sampleImage(node int32) *Image {
	img := NewImage("q1Sh-9_jQiy6sRaB7ZBy3A")
	img.put(Topic{Name: "orders", ID: [16]byte{1, 2, 3}, Partitions: 6, ReplicationFactor: 1,
		Configs:     map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"},
		Assignments: localPartitions(6, node)})
	img.put(Topic{Name: ConsumerOffsetsTopic, ID: [16]byte{15: 9}, Partitions: 50, ReplicationFactor: 1,
		Configs: map[string]string{}, Internal: true, Assignments: localPartitions(50, node)})
	return img
}

func localPartitions(n int, node int32) []Partition {
	out := make([]Partition, n)
	for i := range out {
		out[i] = LocalPartition(node)
	}
	return out
}

// sampleImageV2 is sampleImage with dynamic configs: testdata/state-v2.
func sampleImageV2(node int32) *Image {
	img := sampleImage(node)
	img.configs = map[ConfigResource]map[string]string{
		{kmsg.ConfigResourceTypeBroker, ""}:            {"log.retention.ms": "60000", "background.threads": "9"},
		{kmsg.ConfigResourceTypeBroker, "1"}:           {"message.max.bytes": "2000000"},
		{kmsg.ConfigResourceTypeGroupConfig, "orders"}: {"consumer.session.timeout.ms": "50000"},
	}
	return img
}

// sampleImageV3 has what only version 3 holds: partitions on other nodes,
// with epochs.
func sampleImageV3() *Image {
	img := sampleImageV2(1)
	t := img.topics["orders"].clone()
	t.Assignments[2] = Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1}, Leader: 1, LeaderEpoch: 7, PartitionEpoch: 9}
	t.Assignments[4] = Partition{Replicas: []int32{2}, ISR: []int32{}, Leader: -1, PartitionEpoch: 1}
	img.put(t)
	return img
}

func TestCodecRoundTrip(t *testing.T) {
	for _, img := range []*Image{NewImage("x"), sampleImage(1), sampleImageV2(7), sampleImageV3(), sampleImageV4(), sampleImageV6(), sampleImageV7()} {
		b := encodeState(img)
		if v := binary.BigEndian.Uint16(b[4:]); v != formatVersion {
			t.Errorf("written as version %d, want %d", v, formatVersion)
		}
		got, err := decodeState(b, 99)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, img) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, img)
		}
	}
}

// TestDecodeOldVersions reads files written by older builds: before
// version 3 their partitions belong to the node opening them; before
// version 4 no broker is registered; version 4's brokers load fenced.
func TestDecodeOldVersions(t *testing.T) {
	v4 := sampleImageV4()
	for id, b := range v4.brokers {
		b.Fenced = true
		v4.brokers[id] = b
	}
	for file, want := range map[string]*Image{
		"state-v1": sampleImage(4),
		"state-v2": sampleImageV2(4),
		"state-v3": sampleImageV3(),
		"state-v4": v4,
		"state-v5": sampleImageV4(),
		"state-v6": sampleImageV6(),
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeState(b, 4)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", file, got, want)
		}
	}
}

// TestWriteFuzzSeeds regenerates the seed corpus from the current encoder
// and the old files in testdata when EDDY_REWRITE_FUZZ_SEEDS is set, so
// the corpus tracks the format.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EDDY_REWRITE_FUZZ_SEEDS") == "" {
		t.Skip("set EDDY_REWRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz/FuzzDecode and FuzzRecordDecode")
	}
	sample := encodeState(sampleImageV7())
	seeds := map[string][]byte{
		"empty":       encodeState(NewImage("q1Sh-9_jQiy6sRaB7ZBy3A")),
		"sample":      sample,
		"sample-body": sample[headerLen : len(sample)-trailerLen],
	}
	for _, v := range []string{"v1", "v2"} {
		b, err := os.ReadFile(filepath.Join("testdata", "state-"+v))
		if err != nil {
			t.Fatal(err)
		}
		seeds["sample-"+v], seeds["sample-"+v+"-body"] = b, b[headerLen:len(b)-trailerLen]
	}
	writeSeeds(t, "FuzzDecode", seeds)
	records := map[string][]byte{}
	for name, r := range sampleRecords() {
		records[name] = EncodeRecord(r)
	}
	writeSeeds(t, "FuzzRecordDecode", records)
}

func writeSeeds(t *testing.T, fuzzer string, seeds map[string][]byte) {
	// Named seeds are overwritten; inputs the fuzzer found (hashed names)
	// stay, as regressions.
	dir := filepath.Join("testdata", "fuzz", fuzzer)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		data := []byte("go test fuzz v1\n[]byte(" + quoteBytes(b) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quoteBytes(b []byte) string {
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, c := range b {
		buf.WriteString(`\x`)
		buf.WriteString("0123456789abcdef"[c>>4 : c>>4+1])
		buf.WriteString("0123456789abcdef"[c&15 : c&15+1])
	}
	buf.WriteByte('"')
	return buf.String()
}

// FuzzDecode checks that no input panics the decoder and that whatever it
// accepts re-encodes to an image that decodes identically.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkReencode(t, func(b []byte) (*Image, error) { return decodeState(b, 1) }, b)
		// The CRC keeps mutated files out of the body parser; feed the
		// body parser directly too, as every version.
		for v := uint16(1); v <= formatVersion; v++ {
			checkReencode(t, func(b []byte) (*Image, error) { return decodeBody(b, v, 1) }, b)
		}
	})
}

func checkReencode(t *testing.T, decode func([]byte) (*Image, error), b []byte) {
	t.Helper()
	img, err := decode(b)
	if err != nil {
		return
	}
	again, err := decodeState(encodeState(img), 1)
	if err != nil {
		t.Fatalf("re-encoding an accepted image fails to decode: %v", err)
	}
	if !reflect.DeepEqual(again, img) {
		t.Fatalf("round trip changed the image:\n got %+v\nwant %+v", again, img)
	}
}

// sampleImageV6 is sampleImageV4 with SCRAM users: alice with both
// mechanisms, carol with SCRAM-SHA-256 only.
func sampleImageV6() *Image {
	img := sampleImageV4()
	for _, r := range []ScramCredentialRecord{
		{User: "alice", Credential: sampleCredential(auth.ScramSHA256, 1)},
		{User: "alice", Credential: sampleCredential(auth.ScramSHA512, 2)},
		{User: "carol", Credential: sampleCredential(auth.ScramSHA256, 3)},
	} {
		if err := img.applyScramCredential(r); err != nil {
			panic(err)
		}
	}
	return img
}

// sampleImageV4 is sampleImageV3 with registered brokers.
func sampleImageV4() *Image {
	img := sampleImageV3()
	for _, b := range []Broker{{ID: 1, Host: "10.0.0.1", Port: 9092, Rack: "a", Epoch: 3}, {ID: 2, Host: "node-2", Port: 19092, Epoch: 1}} {
		if err := img.applyBroker(BrokerRecord{b}); err != nil {
			panic(err)
		}
	}
	if err := img.applyBrokerFence(BrokerFenceRecord{ID: 1, Epoch: 3}); err != nil {
		panic(err)
	}
	if err := img.applyProducerIDs(ProducerIDsRecord{Broker: 1, Start: 0, End: 5000}); err != nil {
		panic(err)
	}
	return img
}
