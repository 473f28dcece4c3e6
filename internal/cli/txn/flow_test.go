package txn_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/txn"
)

// run runs one eddy txn command against addr and fails on an error.
func run(t *testing.T, addr string, args ...string) string {
	t.Helper()
	res := clienttest.Run(t, txn.Command, "", append(args, "-b", addr)...)
	if res.Err != nil {
		t.Fatalf("eddy txn %s: %v\n%s", strings.Join(args, " "), res.Err, res.Stdout)
	}
	return res.Stdout
}

func decode[T any](t *testing.T, stdout string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("decoding %q: %v", stdout, err)
	}
	return v
}

type producerJSON struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	ProducerID     int64  `json:"producer_id"`
	LastSequence   int32  `json:"last_sequence"`
	TxnStartOffset int64  `json:"txn_start_offset"`
}

// TestFlow: a transaction left open on a real node as each verb shows it,
// then committed. The open transaction is old enough for hanging with
// --max-age 0s but its coordinator lists it, so it is not hanging.
func TestFlow(t *testing.T) {
	const topic = "payments"
	addr := clienttest.Eddy(t, nil, map[string]int32{topic: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("pay-writer"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b"} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pid, _, err := prod.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out := run(t, addr, "list")
	if !strings.Contains(out, "TRANSACTIONAL-ID") || !strings.Contains(out, "pay-writer") || !strings.Contains(out, "Ongoing") {
		t.Errorf("list:\n%s", out)
	}
	if out := run(t, addr, "list", "--state", "completecommit,empty"); strings.Contains(out, "pay-writer") {
		t.Errorf("list --state CompleteCommit,Empty shows the ongoing transaction:\n%s", out)
	}
	if out := run(t, addr, "list", "--duration", "1h"); strings.Contains(out, "pay-writer") {
		t.Errorf("list --duration 1h shows a transaction begun just now:\n%s", out)
	}
	if res := clienttest.Run(t, txn.Command, "", "list", "--state", "Stable", "-b", addr); res.Err == nil {
		t.Error("list --state Stable (a group state) succeeded")
	}

	out = run(t, addr, "describe", "pay-writer")
	for _, w := range []string{"Ongoing", "PRODUCER-ID", "payments  1"} {
		if !strings.Contains(out, w) {
			t.Errorf("describe lacks %q:\n%s", w, out)
		}
	}
	if res := clienttest.Run(t, txn.Command, "", "describe", "no-such-id", "-b", addr); res.Err == nil {
		t.Error("describe of an unknown transactional id succeeded")
	}

	prods := decode[[]producerJSON](t, run(t, addr, "producers", topic, "--format", "json"))
	want := []producerJSON{{Topic: topic, Partition: 1, ProducerID: pid, LastSequence: 1, TxnStartOffset: 0}}
	if len(prods) != 1 || prods[0] != want[0] {
		t.Errorf("producers %s = %+v, want %+v", topic, prods, want)
	}
	if prods := decode[[]producerJSON](t, run(t, addr, "producers", topic, "0", "--format", "json")); len(prods) != 0 {
		t.Errorf("producers of a partition nobody wrote to: %+v", prods)
	}
	if res := clienttest.Run(t, txn.Command, "", "producers", topic, "7", "-b", addr); res.Err == nil {
		t.Error("producers of a partition that does not exist succeeded")
	}

	hanging := decode[[]producerJSON](t, run(t, addr, "hanging", "--max-age", "0s", "--topic", topic, "--format", "json"))
	if len(hanging) != 0 {
		t.Errorf("an open transaction its coordinator lists is reported hanging: %+v", hanging)
	}
	if res := clienttest.Run(t, txn.Command, "", "hanging", "--partition", "1", "-b", addr); res.Err == nil {
		t.Error("hanging --partition without --topic succeeded")
	}

	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The commit is answered once PrepareCommit is durable; the markers follow.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		prods = decode[[]producerJSON](t, run(t, addr, "producers", topic, "1", "--format", "json"))
		if len(prods) == 1 && prods[0].TxnStartOffset == -1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the commit: producers %+v, want no open transaction", prods)
		}
	}
	if out := run(t, addr, "producers", topic); !strings.Contains(out, "TXN-START-OFFSET") || !strings.HasSuffix(strings.TrimSpace(out), "-") {
		t.Errorf("producers after the commit:\n%s", out)
	}
}
