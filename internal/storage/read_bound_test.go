package storage

import (
	"context"
	"testing"
)

// TestReadCommittedAfterReopen reads, after a restart and before the
// background verifier has checked the closed segment, up to a last stable
// offset that falls inside it: the read checks the batch after its chunk, which
// lies past the bound, and must not take it for corruption.
func TestReadCommittedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	noVerify := func(c *Config) { c.VerifyBytesPerSecond = -1 }
	m := openManagerWith(t, dir, nil, noVerify)
	l := createLog(t, m, smallConfig())
	for i := range 10 { // past the index interval, so that the segment has an index
		mustAppend(t, l, batchAt(i, 2, 0), false) // 0-19
	}
	mustAppend(t, l, txnBatch(1, 0, 0, 2, 8), false) // 20-21, stays open
	mustAppend(t, l, batchAt(10, 2, 0), false)       // 22-23
	must(t, l.requestRoll(context.Background()))     // the segment is closed, so trusted at open
	mustAppend(t, l, batchAt(11, 2, 0), false)       // 24-25
	must(t, m.Close())
	m = openManagerWith(t, dir, nil, noVerify)
	defer m.Close()
	l = m.Log("t", 0)
	// No other read first: it would verify the batches this one needs.
	if end, aborted := committedEnd(t, l, 0); end != 20 || aborted != nil {
		t.Fatalf("read_committed reads to %d, aborted %v; want 20", end, aborted)
	}
	if l.Offline() != nil {
		t.Fatalf("log offline after a bounded read: %v", l.Offline())
	}
	checkLSO(t, l, 20)
}
