package storage

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/eddy-streaming/eddy/internal/record"
)

// marker runs the golden command "marker producer=ID commit|abort".
func (h *cleanerHarness) marker(td *datadriven.TestData) string {
	var id int64
	td.ScanArgs(h.t, "producer", &id)
	m := TxnMarker{ProducerID: id, Commit: td.HasArg("commit")}
	if m.Commit == td.HasArg("abort") {
		h.t.Fatalf("marker needs one of commit and abort")
	}
	off, err := h.l.AppendMarker(context.Background(), m, AppendOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("offset %d", off)
}

// formatMarker names the marker a control batch holds.
func formatMarker(t testing.TB, b []byte) string {
	m, ok, err := record.ParseEndTxnMarker(b)
	switch {
	case err != nil:
		t.Fatalf("control batch: %v", err)
	case !ok:
		return "control"
	case m.Commit:
		return "COMMIT"
	}
	return "ABORT"
}

func formatTxnIndex(idx map[int64][]AbortedTxn) string {
	var sb strings.Builder
	bases := make([]int64, 0, len(idx))
	for b := range idx {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	for _, b := range bases {
		for _, e := range idx[b] {
			fmt.Fprintf(&sb, "segment %d: producer %d first %d marker %d lso %d\n", b, e.ProducerID, e.FirstOffset, e.LastOffset, e.LastStableOffset)
		}
	}
	if sb.Len() == 0 {
		return "empty\n"
	}
	return sb.String()
}

// committedTable reads the log with ReadCommitted as a read_committed
// consumer does (Kafka's Fetcher): it skips the transactional batches of
// a producer from the first offset of an aborted transaction the read
// returned until that producer's ABORT marker. It returns the latest
// value per key, tombstones deleting.
func committedTable(t testing.TB, l *Log) map[string]string {
	t.Helper()
	table := map[string]string{}
	for off := l.LogStartOffset(); off < l.LastStableOffset(); {
		res, err := l.ReadCommitted(off, 1<<20, true)
		must(t, err)
		if len(res.Chunks) == 0 {
			res.Release()
			break
		}
		pending := slices.Clone(res.AbortedTxns)
		sort.Slice(pending, func(i, j int) bool { return pending[i].FirstOffset < pending[j].FirstOffset })
		skipping := map[int64]bool{}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			for len(b) > 0 {
				bb := b[:mustHeader(t, b).Size()]
				h, recs, err := record.Records(bb)
				must(t, err)
				for len(pending) > 0 && pending[0].FirstOffset <= h.LastOffset() {
					skipping[pending[0].ProducerID] = true
					pending = pending[1:]
				}
				switch {
				case h.IsControl():
					if m, ok, err := record.ParseEndTxnMarker(bb); err == nil && ok && !m.Commit {
						delete(skipping, h.ProducerID)
					}
				case h.IsTransactional() && skipping[h.ProducerID]:
				default:
					for _, r := range recs {
						if r.Value == nil {
							delete(table, string(r.Key))
						} else {
							table[string(r.Key)] = string(r.Value)
						}
					}
				}
				off, b = h.LastOffset()+1, b[h.Size():]
			}
		}
		res.Release()
	}
	return table
}
