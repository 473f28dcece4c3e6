package meta

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func sampleState() *state {
	st := &state{clusterID: "q1Sh-9_jQiy6sRaB7ZBy3A", topics: map[string]Topic{}, byID: map[[16]byte]string{}}
	st.put(Topic{Name: "orders", ID: [16]byte{1, 2, 3}, Partitions: 6, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}})
	st.put(Topic{Name: ConsumerOffsetsTopic, ID: [16]byte{15: 9}, Partitions: 50, ReplicationFactor: 1,
		Configs: map[string]string{}, Internal: true})
	return st
}

// sampleStateV2 is sampleState with dynamic configs, which need version 2.
func sampleStateV2() *state {
	st := sampleState()
	st.configs = map[ConfigResource]map[string]string{
		{kmsg.ConfigResourceTypeBroker, ""}:            {"log.retention.ms": "60000", "background.threads": "9"},
		{kmsg.ConfigResourceTypeBroker, "1"}:           {"message.max.bytes": "2000000"},
		{kmsg.ConfigResourceTypeGroupConfig, "orders"}: {"consumer.session.timeout.ms": "50000"},
	}
	return st
}

func TestCodecRoundTrip(t *testing.T) {
	for _, st := range []*state{
		{clusterID: "x", topics: map[string]Topic{}, byID: map[[16]byte]string{}},
		sampleState(),
		sampleStateV2(),
	} {
		b := encodeState(st)
		if want := uint16(1 + min(len(st.configs), 1)); binary.BigEndian.Uint16(b[4:]) != want {
			t.Errorf("written as version %d, want %d", binary.BigEndian.Uint16(b[4:]), want)
		}
		got, err := decodeState(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, st)
		}
	}
}

// TestWriteFuzzSeeds regenerates the seed corpus from the current encoder
// when EDDY_REWRITE_FUZZ_SEEDS is set, so the corpus tracks the format.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EDDY_REWRITE_FUZZ_SEEDS") == "" {
		t.Skip("set EDDY_REWRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := &state{clusterID: "q1Sh-9_jQiy6sRaB7ZBy3A", topics: map[string]Topic{}, byID: map[[16]byte]string{}}
	sample := encodeState(sampleState())
	sample2 := encodeState(sampleStateV2())
	for name, b := range map[string][]byte{
		"empty":          encodeState(empty),
		"sample":         sample,
		"sample-body":    sample[headerLen : len(sample)-trailerLen],
		"sample-v2":      sample2,
		"sample-v2-body": sample2[headerLen : len(sample2)-trailerLen],
	} {
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
// accepts re-encodes to a state that decodes identically.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkReencode(t, decodeState, b)
		// The CRC keeps mutated files out of the body parser; feed the
		// body parser directly too.
		checkReencode(t, func(b []byte) (*state, error) { return decodeBody(b, formatVersion) }, b)
	})
}

func checkReencode(t *testing.T, decode func([]byte) (*state, error), b []byte) {
	t.Helper()
	st, err := decode(b)
	if err != nil {
		return
	}
	again, err := decodeState(encodeState(st))
	if err != nil {
		t.Fatalf("re-encoding an accepted state fails to decode: %v", err)
	}
	if !reflect.DeepEqual(again, st) {
		t.Fatalf("round trip changed the state:\n got %+v\nwant %+v", again, st)
	}
}
