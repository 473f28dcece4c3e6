package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/record"
)

// TestCompactedTopicTransactions writes a compacted topic with franz-go's
// transactional producer: a committed transaction over ten keys, an
// aborted one over the same keys (the latest write of half of them), a
// committed one over the other half that plain writes then supersede, and
// a last committed one of another key. Once cleaned, a read_uncommitted
// consumer no longer sees the aborted values and sees each key's latest
// committed value exactly once, as does a read_committed one. Cleanings
// after delete.retention.ms remove the markers whose transactions have no
// data left (the ABORT and the second COMMIT) and keep the others.
func TestCompactedTopicTransactions(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "txn-table"
	createTopic(t, adm, topic, 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.ms": ptr("1000"),
		"min.cleanable.dirty.ratio": ptr("0.01"), "delete.retention.ms": ptr("1000"),
	})
	prod := txnProducer(t, tn.KafkaAddr(), "tx-table", topic)
	want := map[string]string{}
	txn := func(prefix string, keys int, commit bool) {
		t.Helper()
		if err := produceKeyedTxn(t, prod, prefix, keys, commit); err != nil {
			t.Fatalf("%s transaction: %v", prefix, err)
		}
		for k := range keys {
			if commit {
				want[fmt.Sprintf("k%d", k)] = fmt.Sprintf("%s-%d", prefix, k)
			}
		}
	}
	txn("first", 10, true)
	txn("aborted", 10, false) // must not shadow the first's k5..k9
	txn("second", 5, true)
	plain := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	for k := range 5 { // supersede all of the second, outside transactions
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "plain-%d", k)}
		if err := plain.ProduceSync(testContext(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[string(r.Key)] = string(r.Value)
	}
	// The producer's last transaction: its last data batch and marker
	// stay (producer state needs them), so the second's can go.
	if err := produceKeyedTxn(t, prod, "last", 0, true); err != nil {
		t.Fatal(err)
	}
	want["last"] = "last"
	end := rollWithSentinel(t, plain)
	waitFor(t, "the cleaner to clean up to the sentinel", func() bool { return cleanedTo(tn, topic) >= end })

	uncommitted := readTable(t, tn.KafkaAddr(), topic, end+1)
	for k, r := range uncommitted {
		if strings.HasPrefix(string(r.Value), "aborted-") {
			t.Fatalf("read_uncommitted sees aborted %s=%s at %d after cleaning", k, r.Value, r.Offset)
		}
	}
	checkTable(t, uncommitted, want, 0)
	checkTable(t, readTable(t, tn.KafkaAddr(), topic, end+1, kgo.FetchIsolationLevel(kgo.ReadCommitted())), want, 0)

	// More writes make the log dirty again; cleanings more than
	// delete.retention.ms apart stamp the two markers without data with
	// a delete horizon, then remove them.
	dir := filepath.Join(tn.dir, "logs", topic+"-0")
	t.Logf("%d markers after the first cleaning", countMarkers(t, dir))
	round := 0
	for ; countMarkers(t, dir) > 2; round++ {
		if round == 5 {
			t.Fatalf("after %d more cleanings, %d markers remain, want 2", round, countMarkers(t, dir))
		}
		end = rollWithSentinel(t, plain)
		waitFor(t, "another cleaning", func() bool { return cleanedTo(tn, topic) >= end })
	}
	t.Logf("markers gone after %d more cleanings", round)
	if n := countMarkers(t, dir); n != 2 {
		t.Fatalf("%d markers left, want the COMMITs of the first and last transactions", n)
	}
	checkTable(t, readTable(t, tn.KafkaAddr(), topic, end+1, kgo.FetchIsolationLevel(kgo.ReadCommitted())), want, 0)
}

// produceKeyedTxn runs one transaction writing prefix-k to keys k0..k<n>
// (n 0: prefix to key prefix) and commits or aborts it.
func produceKeyedTxn(t *testing.T, cl *kgo.Client, prefix string, n int, commit bool) error {
	t.Helper()
	ctx := testContext(t)
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	recs := []*kgo.Record{{Key: []byte(prefix), Value: []byte(prefix)}}
	if n > 0 {
		recs = nil
	}
	for k := range n {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "%s-%d", prefix, k)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort) // the produce error is what counts
		return err
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// countMarkers counts the control batches holding a record in the
// partition's segment files (a producer's last marker may remain as an
// empty header). A file the cleaner swaps out while it reads is retried.
func countMarkers(t *testing.T, dir string) int {
	t.Helper()
	for range 10 {
		if n, err := markersOnDisk(dir); err == nil {
			return n
		}
	}
	t.Fatalf("could not read the segments of %s", dir)
	return 0
}

func markersOnDisk(dir string) (int, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return 0, err
		}
		for len(b) >= record.HeaderSize {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				break // the active segment's tail, being written
			}
			if h.IsControl() && h.NumRecords > 0 {
				n++
			}
			b = b[h.Size():]
		}
	}
	return n, nil
}
