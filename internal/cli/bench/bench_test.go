package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// run executes eddy bench with args and returns its standard output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := Command()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("eddy bench %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// runJSON runs eddy bench with --format json and decodes the object.
func runJSON[T any](t *testing.T, args ...string) T {
	t.Helper()
	out := run(t, append(args, "--format", "json")...)
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	return v
}

func TestProduceKfake(t *testing.T) {
	r := runJSON[produceResult](t, "produce", "--kfake", "--duration", "2s", "--record-size", "100")
	if r.Bench != "produce" || r.Target != kfakeName || r.Records <= 0 || r.Errors != 0 || r.Requests <= 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Bytes != r.Records*100 || r.P50Ms > r.P99Ms || r.P99Ms > r.P999Ms || r.P999Ms > r.MaxMs {
		t.Errorf("inconsistent result %+v", r)
	}
}

func TestProducePacedCountsSchedule(t *testing.T) {
	// At 500 records/s for 1 s the schedule holds exactly 500 sends,
	// however slow the machine; 2 producers split it evenly.
	r := runJSON[produceResult](t, "produce", "--against", "kfake", "--duration", "1s",
		"--rate", "500", "--producers", "2", "--acks", "1")
	if r.Records != 500 || r.Errors != 0 || r.Rate != 500 {
		t.Fatalf("result %+v", r)
	}
}

func TestProduceTextLine(t *testing.T) {
	out := run(t, "produce", "--kfake", "--duration", "200ms", "--acks", "0", "--compression", "lz4")
	if !strings.HasPrefix(out, "produce kfake: ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "errors 0") {
		t.Fatalf("want one line, got %q", out)
	}
}

func TestConsumeKfake(t *testing.T) {
	r := runJSON[consumeResult](t, "consume", "--kfake", "--fill", "300ms", "--partitions", "3", "--record-size", "100")
	if r.Bench != "consume" || r.Records <= 0 || r.Bytes != r.Records*100 {
		t.Fatalf("result %+v", r)
	}
}

func TestCompare(t *testing.T) {
	// A second kfake stands in for the broker under test.
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := runJSON[compareResult](t, "compare", "--against", c.ListenAddrs()[0], "--create",
		"--duration", "500ms", "--rate", "2000", "--record-size", "10")
	if r.Produce.Records != 1000 || r.KfakeProduce.Records != 1000 || r.ProduceRatio <= 0 {
		t.Fatalf("result %+v", r)
	}
	// Consume reads the topic back: the timed records plus one warm-up record.
	if r.Consume.Records != r.Produce.Records+1 || r.KfakeConsume.Records != r.KfakeProduce.Records+1 {
		t.Errorf("consumed %d and %d, produced %d and %d", r.Consume.Records, r.KfakeConsume.Records,
			r.Produce.Records, r.KfakeProduce.Records)
	}
}

func TestDisk(t *testing.T) {
	dir := t.TempDir()
	r := runJSON[diskResult](t, "disk", "--dir", dir, "--size", "3MiB")
	if r.Bytes != 3<<20 || r.OneSyncMBPerSec <= 0 || r.SyncEachMBPerSec <= 0 {
		t.Fatalf("result %+v", r)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %d files behind", len(left))
	}
}

func TestDiskOddSize(t *testing.T) {
	if _, err := runDisk(t.TempDir(), 1<<20+5); err != nil {
		t.Fatal(err)
	}
}

func TestNet(t *testing.T) {
	r := runJSON[netResult](t, "net", "--size", "5MiB")
	if r.Bytes != 5<<20 || r.MBPerSec <= 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"produce", "--kfake", "--acks", "2", "--duration", "1s"},
		{"produce", "--kfake", "--compression", "brotli"},
		{"produce", "--kfake", "--format", "yaml"},
		{"disk", "--size", "none"},
		{"net", "--format", "xml"},
		{"idle"},
		{"compare", "--kfake"},
		{"txn", "--kfake", "--commit-interval", "0"},
		{"txn", "--kfake", "--e2e-rate", "0"},
		{"txn", "--kfake", "--acks", "1"},
		{"txn", "--kfake", "--producers", "2"},
		{"txn", "--kfake", "--record-size", "7"},
		{"txn", "--kfake", "--broker-pid", "-1"},
		{"txn", "--kfake", "--rate", "100"},
	} {
		cmd := Command()
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err == nil {
			t.Errorf("eddy bench %s: want an error", strings.Join(args, " "))
		}
	}
}
