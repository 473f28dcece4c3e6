package bench

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// TestTxnEddy runs all three phases of bench txn for a second each against
// a real Eddy node, then checks the figures agree with each other and with
// what the topics hold.
func TestTxnEddy(t *testing.T) {
	addr := clienttest.Eddy(t, nil, nil)
	// The node runs in this process, so its CPU seconds are this process's.
	r := runJSON[txnResult](t, "txn", "--against", addr, "--create", "--topic", "t",
		"--partitions", "3", "--record-size", "100", "--duration", "1s",
		"--e2e-rate", "500", "--broker-pid", strconv.Itoa(os.Getpid()))

	for _, p := range []produceResult{r.Txn.produceResult, r.Idempotent} {
		if p.Records <= 0 || p.Errors != 0 || p.Bytes != p.Records*100 || p.MBPerSec <= 0 || p.P50Ms > p.MaxMs ||
			p.Requests <= 0 || p.RecordsPerRequest <= 0 {
			t.Errorf("%s phase: %+v", p.Bench, p)
		}
	}
	if r.Txn.Commits < 1 || r.Txn.CommitP50Ms <= 0 || r.Txn.CommitP50Ms > r.Txn.CommitMaxMs {
		t.Errorf("commits: %+v", r.Txn)
	}
	if want := r.Txn.MBPerSec / r.Idempotent.MBPerSec; math.Abs(r.MBPerSecRatio-want) > 1e-9*want {
		t.Errorf("ratio %v, want %v", r.MBPerSecRatio, want)
	}
	if r.TxnCPUPerGB <= 0 || r.IdempotentCPUPerGB <= 0 || r.CPUPerGBRatio <= 0 {
		t.Errorf("CPU per GB: %+v", r)
	}

	// Phases 1 and 2 wrote to t: under read_committed it holds every
	// record they counted, plus one warm-up record each.
	want := r.Txn.Records + r.Idempotent.Records + 2
	if got := committedRecords(t, addr, "t", want); got != want {
		t.Errorf("topic t holds %d committed records, want %d", got, want)
	}

	// 1 s at 500 records/s is exactly 500 records, however slow the
	// machine; commits fall every 100 ms of the schedule, 10 in all unless
	// a commit outlasts an interval.
	e := r.E2E
	if e.Produced != 500 || e.Transactions < 1 || e.Transactions > 10 {
		t.Fatalf("e2e produced %d records in %d transactions, want 500 in 1 to 10", e.Produced, e.Transactions)
	}
	for _, c := range []e2eLatency{e.ReadCommitted, e.ReadUncommitted} {
		if c.Records != e.Produced || c.P50Ms <= 0 || c.P50Ms > c.P99Ms || c.P99Ms > c.MaxMs {
			t.Errorf("%s consumer: %+v, want all %d records", c.Isolation, c, e.Produced)
		}
	}
	if e.ReadCommitted.Isolation != "read_committed" || e.ReadUncommitted.Isolation != "read_uncommitted" {
		t.Errorf("consumers %q and %q", e.ReadCommitted.Isolation, e.ReadUncommitted.Isolation)
	}
}

// committedRecords reads topic from the start under read_committed until
// want records arrive or 15 s pass, and returns how many it read.
func committedRecords(t *testing.T, addr, topic string, want int64) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := consume(ctx, cl, addr, want)
	if err != nil {
		t.Fatal(err)
	}
	return r.Records
}

func TestTxnTextLines(t *testing.T) {
	out := run(t, "txn", "--kfake", "--duration", "300ms", "--e2e-rate", "200", "--record-size", "16")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	prefixes := []string{"txn kfake: ", "idempotent kfake: ", "ratio txn/idempotent: ",
		"e2e read_committed at 200 records/s: ", "e2e read_uncommitted at 200 records/s: "}
	if len(lines) != len(prefixes) {
		t.Fatalf("want %d lines, got %q", len(prefixes), out)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d is %q, want it to start with %q", i+1, lines[i], p)
		}
	}
	if strings.Contains(out, "broker CPU") {
		t.Errorf("CPU figures without --broker-pid:\n%s", out)
	}
	if !strings.Contains(lines[3], "records 60 of 60 ") {
		t.Errorf("read_committed did not see all 60 records: %q", lines[3])
	}
}
