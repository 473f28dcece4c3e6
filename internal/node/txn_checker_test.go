package node_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleHistory is a history with no anomaly. Partition x-0 holds a-0,
// COMMIT, b-0, ABORT, c-0, c-1, COMMIT; y-0 holds a-1, COMMIT, d-0, d-1,
// COMMIT (d's commit was unconfirmed to its client).
func sampleHistory() txnHistory {
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	w := func(topic, v string, acked bool) txnWrite { return txnWrite{topic, 0, v, acked} }
	r := func(topic string, off int64, v string) readRecord { return readRecord{topic, 0, off, v} }
	final := []readRecord{r("x", 0, "a-0"), r("y", 0, "a-1"), r("x", 4, "c-0"), r("x", 5, "c-1"), r("y", 2, "d-0"), r("y", 3, "d-1")}
	uncommitted := slices.Insert(slices.Clone(final), 2, r("x", 2, "b-0"))
	return txnHistory{
		Txns: []txnOp{
			{ID: "p0-t0", Producer: 0, Outcome: txnCommitted, Writes: []txnWrite{w("x", "a-0", true), w("y", "a-1", true)}, Start: at(0), Acked: at(1)},
			{ID: "p0-t1", Producer: 0, Outcome: txnAborted, Writes: []txnWrite{w("x", "b-0", true), w("y", "b-1", false)}, Start: at(2)},
			{ID: "p1-t0", Producer: 1, Outcome: txnCommitted, Writes: []txnWrite{w("x", "c-0", true), w("x", "c-1", true)}, Start: at(4), Acked: at(5)},
			{ID: "p1-t1", Producer: 1, Outcome: txnUnknown, Writes: []txnWrite{w("y", "d-0", true), w("y", "d-1", true)}, Start: at(6), Acked: at(7)},
		},
		Reads: []txnRead{
			{Name: "c1", ReadCommitted: true, Records: slices.Clone(final)},
			{Name: "c2", ReadCommitted: true, Records: []readRecord{r("x", 0, "a-0"), r("x", 4, "c-0")}},
		},
		Final:       txnRead{Name: "final", ReadCommitted: true, Records: final},
		Uncommitted: txnRead{Name: "uncommitted", Records: uncommitted},
	}
}

func TestTxnCheckerClean(t *testing.T) {
	found, sum := checkTxnHistory(sampleHistory())
	if len(found) > 0 {
		t.Fatalf("anomalies in a clean history: %v", found)
	}
	want := txnSummary{Committed: 2, Aborted: 1, Unknown: 1, UnknownCommitted: 1,
		FinalRecords: 6, UncommittedRecords: 7, UncommittedExtra: 1, ConsumerRecords: 8}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
}

// TestTxnChecker breaks the sample history one way per row and checks
// the checker reports that anomaly.
func TestTxnChecker(t *testing.T) {
	rec := func(topic string, off int64, v string) readRecord { return readRecord{topic, 0, off, v} }
	drop := func(rs []readRecord, v string) []readRecord {
		return slices.DeleteFunc(slices.Clone(rs), func(r readRecord) bool { return r.Value == v })
	}
	for _, tc := range []struct {
		name   string
		want   string
		mutate func(h *txnHistory)
	}{
		{"aborted value read committed", anomalyAbortedRead, func(h *txnHistory) {
			h.Reads[0].Records = slices.Insert(h.Reads[0].Records, 2, rec("x", 2, "b-0"))
		}},
		{"unknown outcome read, then aborted", anomalyAbortedRead, func(h *txnHistory) {
			h.Final.Records = drop(drop(h.Final.Records, "d-0"), "d-1")
		}},
		{"committed txn half visible", anomalyTorn, func(h *txnHistory) {
			h.Final.Records = drop(h.Final.Records, "c-1")
		}},
		{"unknown txn half visible", anomalyTorn, func(h *txnHistory) {
			h.Final.Records = drop(h.Final.Records, "d-1")
		}},
		{"committed txn invisible", anomalyLost, func(h *txnHistory) {
			h.Final.Records = drop(drop(h.Final.Records, "a-0"), "a-1")
		}},
		{"acknowledged aborted write gone", anomalyLost, func(h *txnHistory) {
			h.Uncommitted.Records = drop(h.Uncommitted.Records, "b-0")
		}},
		{"value at two offsets", anomalyDuplicate, func(h *txnHistory) {
			h.Final.Records = append(h.Final.Records, rec("x", 7, "c-1"))
		}},
		{"value at two offsets across reads", anomalyDuplicate, func(h *txnHistory) {
			h.Reads[1].Records[1].Offset = 3
		}},
		{"offsets going back", anomalyNonMonotonic, func(h *txnHistory) {
			h.Reads[1].Records = append(h.Reads[1].Records, rec("x", 0, "a-0"))
		}},
		{"offset read twice", anomalyNonMonotonic, func(h *txnHistory) {
			h.Reads[0].Records = append(h.Reads[0].Records, rec("y", 3, "d-1"))
		}},
		{"committed record skipped", anomalyPollSkip, func(h *txnHistory) {
			h.Reads[0].Records = drop(h.Reads[0].Records, "c-0")
		}},
		{"two values at one offset", anomalyInconsistent, func(h *txnHistory) {
			h.Reads[1].Records[1].Value = "c-1"
		}},
		{"value never written", anomalyPhantom, func(h *txnHistory) {
			h.Reads[1].Records = append(h.Reads[1].Records, rec("x", 9, "zzz"))
		}},
		{"value in the wrong partition", anomalyPhantom, func(h *txnHistory) {
			h.Uncommitted.Records = append(h.Uncommitted.Records, readRecord{"x", 1, 0, "b-1"})
		}},
		{"a txn's writes reordered", anomalyOrder, func(h *txnHistory) {
			for _, recs := range [][]readRecord{h.Final.Records, h.Uncommitted.Records, h.Reads[0].Records} {
				for i := range recs {
					switch recs[i].Value {
					case "c-0":
						recs[i].Offset = 5
					case "c-1":
						recs[i].Offset = 4
					}
				}
			}
			h.Reads[1].Records = h.Reads[1].Records[:1]
		}},
		{"a later txn before an earlier one", anomalyOrder, func(h *txnHistory) {
			// c started after a was acknowledged, yet c-0 is below a-0.
			for _, recs := range [][]readRecord{h.Final.Records, h.Uncommitted.Records, h.Reads[0].Records, h.Reads[1].Records} {
				for i := range recs {
					switch recs[i].Value {
					case "a-0":
						recs[i].Offset = 4
					case "c-0":
						recs[i].Offset = 0
					}
				}
			}
		}},
		{"read_uncommitted lacks a committed record", anomalyCounts, func(h *txnHistory) {
			h.Uncommitted.Records = drop(h.Uncommitted.Records, "c-0")
		}},
		{"read_uncommitted has a committed record read_committed lacks", anomalyCounts, func(h *txnHistory) {
			h.Final.Records = drop(h.Final.Records, "c-0")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sampleHistory()
			tc.mutate(&h)
			// Only the anomaly the row is about: reads stay in offset order.
			for _, r := range append([]*txnRead{&h.Final, &h.Uncommitted}, &h.Reads[0], &h.Reads[1]) {
				if tc.want != anomalyNonMonotonic {
					slices.SortStableFunc(r.Records, func(a, b readRecord) int {
						return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Offset, b.Offset))
					})
				}
			}
			found, _ := checkTxnHistory(h)
			if !slices.ContainsFunc(found, func(a anomaly) bool { return a.Kind == tc.want }) {
				t.Fatalf("found %v, want a %s", found, tc.want)
			}
			t.Logf("found %v", found)
		})
	}
}
