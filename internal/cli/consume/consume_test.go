package consume_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/consume"
)

// seed writes value i at time base+i seconds to partition i%2 of topic t.
func seed(t *testing.T, addr, topic string, n int, base time.Time) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte{'a' + byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConsume(t *testing.T) {
	addr := clienttest.Eddy(t, nil, map[string]int32{"t": 2})
	base := time.UnixMilli(1700000000000)
	seed(t, addr, "t", 6, base) // p0: a c e at offsets 0..2, p1: b d f

	tests := []struct {
		name    string
		args    []string
		want    string // exact stdout; records of one partition come in order
		wantErr string
	}{
		{name: "one partition", args: []string{"t", "-p", "1", "-n", "3", "-f", `%o%v `}, want: "0b 1d 2f "},
		{name: "exact offset", args: []string{"t", "-p", "0", "-o", "1", "-n", "2", "-f", `%v`}, want: "ce"},
		{name: "relative to end", args: []string{"t", "-p", "0", "-o", "-1", "-n", "1"}, want: "e\n"},
		{name: "default start and format", args: []string{"t", "-p", "1", "-n", "1"}, want: "b\n"},
		{name: "timestamp", args: []string{"t", "-p", "0", "-o", "@1700000002000", "-n", "2", "-f", `%T=%v `}, want: "1700000002000=c 1700000004000=e "},
		{name: "several partitions", args: []string{"t", "-p", "0", "-p", "1", "-o", "2", "-n", "2", "-f", `%p%v`}},
		{name: "missing topic", args: []string{"nope"}, wantErr: `consuming "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "missing partition", args: []string{"t", "-p", "7"}, wantErr: `partition 7 does not exist`},
		{name: "bad offset", args: []string{"t", "-o", "soon"}, wantErr: `invalid --offset "soon"`},
		{name: "bad template", args: []string{"t", "-f", "%z"}, wantErr: "unknown verb %z"},
		{name: "template and json", args: []string{"t", "-f", "%v", "--format", "json"}, wantErr: "cannot be used together"},
		{name: "bad format", args: []string{"t", "--format", "yaml"}, wantErr: `unknown --format "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := clienttest.Run(t, consume.Command, "", append(tt.args, "-b", addr)...)
			if tt.wantErr != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", res.Err, tt.wantErr)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if tt.want != "" && res.Stdout != tt.want {
				t.Errorf("stdout = %q, want %q", res.Stdout, tt.want)
			}
			if tt.name == "several partitions" && !(strings.Contains(res.Stdout, "0e") && strings.Contains(res.Stdout, "1f")) {
				t.Errorf("stdout = %q, want 0e and 1f", res.Stdout)
			}
		})
	}
}

// TestConsumeUntilCancelled checks that without -n the command prints what
// there is and returns nil once its context ends, as on SIGINT.
func TestConsumeUntilCancelled(t *testing.T) {
	addr := clienttest.Eddy(t, nil, map[string]int32{"t": 2})
	seed(t, addr, "t", 4, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	res := clienttest.RunContext(ctx, t, consume.Command, "", "t", "-b", addr, "--format", "json")
	if res.Err != nil {
		t.Fatalf("interrupted consume returned %v", res.Err)
	}
	if n := strings.Count(res.Stdout, `"topic":"t"`); n != 4 {
		t.Errorf("got %d records before the interrupt, want 4:\n%s", n, res.Stdout)
	}
}
