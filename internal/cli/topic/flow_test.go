package topic_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/consume"
	"github.com/eddy-streaming/eddy/internal/cli/produce"
	"github.com/eddy-streaming/eddy/internal/cli/topic"
)

// step is one command of a scripted session against one broker. Steps run
// in order and depend on each other, like a user at a shell.
type step struct {
	name    string
	cmd     func() *cobra.Command
	stdin   string
	args    []string
	want    []string // substrings of stdout
	notWant []string // substrings that must not be in stdout
	stderr  []string // substrings of stderr
	wantErr string   // substring of the error; "" means success
	check   func(t *testing.T, stdout string)
}

func runSteps(t *testing.T, addr string, steps []step) {
	for _, s := range steps {
		args := append(append([]string(nil), s.args...), "-b", addr)
		res := clienttest.Run(t, s.cmd, s.stdin, args...)
		switch {
		case s.wantErr == "" && res.Err != nil:
			t.Fatalf("%s: unexpected error: %v\nstdout:\n%s", s.name, res.Err, res.Stdout)
		case s.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), s.wantErr)):
			t.Fatalf("%s: error = %v, want one containing %q", s.name, res.Err, s.wantErr)
		}
		for _, w := range s.want {
			if !strings.Contains(res.Stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, res.Stdout)
			}
		}
		for _, w := range s.notWant {
			if strings.Contains(res.Stdout, w) {
				t.Errorf("%s: stdout has %q:\n%s", s.name, w, res.Stdout)
			}
		}
		for _, w := range s.stderr {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, res.Stderr)
			}
		}
		if s.check != nil {
			s.check(t, res.Stdout)
		}
	}
}

func TestTopicProduceConsumeFlow(t *testing.T) {
	addr := clienttest.Eddy(t, map[string]string{"num.partitions": "2"}, nil)
	runSteps(t, addr, []step{
		{name: "create dry run", cmd: topic.Command, args: []string{"create", "orders", "-p", "3", "--dry-run"},
			want: []string{"orders", "valid (dry run)"}},
		{name: "list after dry run", cmd: topic.Command, args: []string{"list"}, notWant: []string{"orders"}},
		{name: "create", cmd: topic.Command,
			args: []string{"create", "orders", "-p", "3", "-r", "1", "-c", "retention.ms=3600000", "-c", "cleanup.policy=compact,delete"},
			want: []string{"TOPIC", "orders", "3", "created"}},
		{name: "create with broker defaults", cmd: topic.Command, args: []string{"create", "defaults"},
			want: []string{"defaults  2 "}},
		{name: "create existing", cmd: topic.Command, args: []string{"create", "orders"},
			wantErr: `creating topic "orders": TOPIC_ALREADY_EXISTS`},
		{name: "create bad config flag", cmd: topic.Command, args: []string{"create", "x", "-c", "novalue"},
			wantErr: `invalid --config "novalue"`},
		{name: "list", cmd: topic.Command, args: []string{"list"},
			want: []string{"NAME", "PARTITIONS", "REPLICAS", "orders", "defaults"}},
		{name: "list json", cmd: topic.Command, args: []string{"list", "--format", "json"},
			check: func(t *testing.T, out string) {
				var got []struct {
					Topic      string
					Partitions int
					Replicas   int
				}
				decode(t, out, &got)
				if len(got) != 2 || got[1].Topic != "orders" || got[1].Partitions != 3 || got[1].Replicas != 1 {
					t.Errorf("list json = %+v", got)
				}
			}},
		{name: "describe", cmd: topic.Command, args: []string{"describe", "orders"},
			want: []string{"SUMMARY", "PARTITIONS  3", "retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG",
				"cleanup.policy", "compact,delete", "OFFLINE", "FLAGS", "LOG-START-OFFSET", "HIGH-WATERMARK"}},
		{name: "describe missing", cmd: topic.Command, args: []string{"describe", "nope"},
			wantErr: `describing topic "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "alter-config", cmd: topic.Command,
			args: []string{"alter-config", "orders", "--set", "retention.ms=60000", "--set", "max.message.bytes=2048", "--delete", "cleanup.policy"},
			want: []string{"orders", "altered"}},
		{name: "alter-config nothing", cmd: topic.Command, args: []string{"alter-config", "orders"},
			wantErr: "nothing to alter"},
		{name: "alter-config missing topic", cmd: topic.Command, args: []string{"alter-config", "nope", "--set", "retention.ms=1"},
			wantErr: `altering configs of topic "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "alter-config dry run", cmd: topic.Command, args: []string{"alter-config", "orders", "--set", "retention.ms=1", "--dry-run"},
			want: []string{"valid (dry run)"}},
		{name: "create zero partitions", cmd: topic.Command, args: []string{"create", "x", "-p", "0"},
			wantErr: `creating topic "x": INVALID_PARTITIONS`},
		{name: "describe after alter", cmd: topic.Command, args: []string{"describe", "orders", "--format", "json"},
			check: checkConfigs(map[string]string{"retention.ms": "60000", "max.message.bytes": "2048"}, "cleanup.policy")},
		{name: "produce", cmd: produce.Command, args: []string{"orders", "--key-delim", ":", "-H", "src=test", "-H", "trace=a=b", "-p", "1"},
			stdin: "k1:v1\nk2:v2:with:colons\r\nno-key\n\nk4:v4", stderr: []string{`produced 5 records to "orders"`}},
		{name: "consume template", cmd: consume.Command, args: []string{"orders", "-p", "1", "-n", "5", "-f", `%t/%p/%o %k=%v [%h]\n`},
			want: []string{
				"orders/1/0 k1=v1 [src=test,trace=a=b]\n",
				"orders/1/1 k2=v2:with:colons [src=test,trace=a=b]\n",
				"orders/1/2 =no-key [src=test,trace=a=b]\n",
				"orders/1/3 = [src=test,trace=a=b]\n",
				"orders/1/4 k4=v4 [src=test,trace=a=b]\n",
			}},
		{name: "consume json from offset", cmd: consume.Command, args: []string{"orders", "-o", "2", "-n", "2", "--format", "json"},
			check: checkJSONRecords},
		{name: "consume default format", cmd: consume.Command, args: []string{"orders", "-n", "1", "-o", "-1"},
			want: []string{"v4\n"}, notWant: []string{"k4"}},
		{name: "produce fixed key json summary", cmd: produce.Command, args: []string{"defaults", "-k", "same", "--compression", "zstd", "--acks", "1", "--format", "json"},
			stdin: "a\nb\nc\n", want: []string{`"produced": 3`, `"failed": 0`}},
		{name: "consume other topic", cmd: consume.Command, args: []string{"defaults", "-n", "3", "-f", `%k:%v\t`},
			check: func(t *testing.T, out string) {
				// The key hashes all three records to one partition, so order holds.
				if out != "same:a\tsame:b\tsame:c\t" {
					t.Errorf("consume = %q", out)
				}
			}},
		{name: "delete", cmd: topic.Command, args: []string{"delete", "orders", "defaults"}, want: []string{"orders", "defaults", "deleted"}},
		{name: "delete again", cmd: topic.Command, args: []string{"delete", "orders"},
			wantErr: `deleting topic "orders": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "list after delete", cmd: topic.Command, args: []string{"list"}, notWant: []string{"orders", "defaults"}},
	})
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

func checkConfigs(want map[string]string, gone string) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		var got []struct {
			Configs []struct {
				Key    string
				Value  *string
				Source string
			}
			Partitions []struct {
				Partition     int32
				Leader        int32
				HighWatermark int64 `json:"high_watermark"`
			}
		}
		decode(t, out, &got)
		dynamic := map[string]string{}
		for _, c := range got[0].Configs {
			if c.Source == "DYNAMIC_TOPIC_CONFIG" && c.Value != nil {
				dynamic[c.Key] = *c.Value
			}
		}
		for k, v := range want {
			if dynamic[k] != v {
				t.Errorf("config %s = %q, want %q (dynamic: %v)", k, dynamic[k], v, dynamic)
			}
		}
		if _, ok := dynamic[gone]; ok {
			t.Errorf("config %s still set on the topic", gone)
		}
		if len(got[0].Partitions) != 3 || got[0].Partitions[2].Partition != 2 || got[0].Partitions[0].HighWatermark != 0 {
			t.Errorf("partitions = %+v", got[0].Partitions)
		}
	}
}

func checkJSONRecords(t *testing.T, out string) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %q", out)
	}
	var r struct {
		Topic     string
		Partition int32
		Offset    int64
		Timestamp int64
		Key       *string
		Value     *string
		Headers   []struct{ Key, Value string }
	}
	decode(t, lines[0], &r)
	if r.Topic != "orders" || r.Partition != 1 || r.Offset != 2 || r.Timestamp <= 0 ||
		r.Key != nil || r.Value == nil || *r.Value != "no-key" || len(r.Headers) != 2 || r.Headers[1].Value != "a=b" {
		t.Errorf("first record = %+v", r)
	}
}
