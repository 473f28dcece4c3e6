package produce

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

func TestNewRecord(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}
	tests := []struct {
		name      string
		f         flags
		line      string
		wantKey   *string // nil: null key
		wantValue string
	}{
		{name: "value only", f: flags{partition: -1}, line: "v", wantValue: "v"},
		{name: "fixed key", f: flags{partition: -1, key: "k", keySet: true}, line: "v", wantKey: ptr("k"), wantValue: "v"},
		{name: "empty fixed key is not null", f: flags{partition: -1, keySet: true}, line: "v", wantKey: ptr(""), wantValue: "v"},
		{name: "delim", f: flags{partition: -1, keyDelim: ":"}, line: "k:v", wantKey: ptr("k"), wantValue: "v"},
		{name: "delim splits once", f: flags{partition: -1, keyDelim: ":"}, line: "k:v:w", wantKey: ptr("k"), wantValue: "v:w"},
		{name: "multi-byte delim", f: flags{partition: -1, keyDelim: "=>"}, line: "k=>v", wantKey: ptr("k"), wantValue: "v"},
		{name: "delim missing", f: flags{partition: -1, keyDelim: ":"}, line: "v", wantValue: "v"},
		{name: "delim first", f: flags{partition: -1, keyDelim: ":"}, line: ":v", wantKey: ptr(""), wantValue: "v"},
		{name: "manual partition", f: flags{partition: 4}, line: "v", wantValue: "v"},
	}
	for _, tt := range tests {
		r := tt.f.newRecord("t", []byte(tt.line), hs)
		switch {
		case tt.wantKey == nil && r.Key != nil, tt.wantKey != nil && (r.Key == nil || string(r.Key) != *tt.wantKey):
			t.Errorf("%s: key = %q (nil %v), want %v", tt.name, r.Key, r.Key == nil, tt.wantKey)
		case string(r.Value) != tt.wantValue:
			t.Errorf("%s: value = %q, want %q", tt.name, r.Value, tt.wantValue)
		case r.Topic != "t" || len(r.Headers) != 1:
			t.Errorf("%s: record = %+v", tt.name, r)
		case tt.f.partition >= 0 && r.Partition != tt.f.partition:
			t.Errorf("%s: partition = %d", tt.name, r.Partition)
		}
	}
}

func ptr(s string) *string { return &s }

func TestTrimEOL(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\n": "a", "a": "a", "\n": "", "a\r": "a", "a\n\n": "a\n"} {
		if got := string(trimEOL([]byte(in))); got != want {
			t.Errorf("trimEOL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProduce(t *testing.T) {
	addr := clienttest.Eddy(t, nil, map[string]int32{"t": 3})
	tests := []struct {
		name     string
		stdin    string
		args     []string
		stderr   string // substring
		wantErr  string
		wantRecs int // records added to the topic
	}{
		{name: "lines", stdin: "a\nb\nc\n", args: nil, stderr: `produced 3 records to "t"`, wantRecs: 3},
		{name: "no trailing newline", stdin: "a\nb", stderr: "produced 2 records", wantRecs: 2},
		{name: "empty input", stdin: "", stderr: "produced 0 records", wantRecs: 0},
		{name: "acks 1 gzip", stdin: "a\n", args: []string{"--acks", "1", "--compression", "gzip"}, stderr: "produced 1 record ", wantRecs: 1},
		{name: "acks 0 snappy", stdin: "a\n", args: []string{"--acks", "0", "--compression", "snappy"}, stderr: "produced 1 record ", wantRecs: 1},
		{name: "lz4 to partition", stdin: "a\nb\n", args: []string{"--compression", "lz4", "-p", "2"}, wantRecs: 2},
		{name: "zstd with key", stdin: "a\n", args: []string{"--compression", "zstd", "-k", "x"}, wantRecs: 1},
		{name: "unknown flag", stdin: "a\n", args: []string{"--topic-override"}, wantErr: "unknown flag"},
		{name: "bad partition", stdin: "a\n", args: []string{"-p", "9", "--timeout", "2s"}, wantErr: `producing to "t": 1 of 1 records failed`},
		{name: "bad acks", args: []string{"--acks", "2"}, wantErr: `invalid --acks "2"`},
		{name: "bad compression", args: []string{"--compression", "brotli"}, wantErr: `invalid --compression "brotli"`},
		{name: "bad header", args: []string{"-H", "nokey"}, wantErr: `invalid --header "nokey"`},
		{name: "key and delim", args: []string{"-k", "a", "--key-delim", ":"}, wantErr: "none of the others can be"},
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := clienttest.Run(t, Command, tt.stdin, append([]string{"t", "-b", addr}, tt.args...)...)
			if tt.wantErr != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", res.Err, tt.wantErr)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if !strings.Contains(res.Stderr, tt.stderr) {
				t.Errorf("stderr = %q, want %q", res.Stderr, tt.stderr)
			}
			total += tt.wantRecs
			if got := waitRecords(t, addr, "t", total); got != total {
				t.Errorf("topic holds %d records, want %d", got, total)
			}
		})
	}
}

func TestProduceMissingTopic(t *testing.T) {
	addr := clienttest.Eddy(t, nil, nil)
	res := clienttest.Run(t, Command, "a\n", "nope", "-b", addr, "--format", "json")
	if res.Err == nil || !strings.Contains(res.Err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("error = %v, want UNKNOWN_TOPIC_OR_PARTITION", res.Err)
	}
	if !strings.Contains(res.Stdout, `"failed": 1`) {
		t.Errorf("json summary = %s", res.Stdout)
	}
}

// countRecords sums the high watermarks of topic's partitions.
// waitRecords counts the topic's records until there are want of them or
// five seconds pass: an acks=0 produce returns before the broker appends.
func waitRecords(t *testing.T, addr, topic string, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := countRecords(t, addr, topic)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countRecords(t *testing.T, addr, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	return n
}
