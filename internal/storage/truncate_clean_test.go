package storage

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// kv is one keyed record of the truncation-and-cleaning tests.
type kv struct{ k, v string }

// appendKVs appends one record per batch and rolls, so that every record
// is cleanable.
func appendKVs(t testing.TB, l *Log, kvs []kv) {
	t.Helper()
	for _, r := range kvs {
		mustAppend(t, l, recordtest.Batch(recordtest.Options{}, []record.Record{{Key: []byte(r.k), Value: []byte(r.v)}}), false)
	}
	must(t, l.requestRoll(context.Background()))
}

// cleanedLog writes the compacted log the tests start from, cleaned up to
// 300: 200 updates of 20 keys a000..a019 (their latest at 180..199), then
// 100 keys b000..b099 once each (at 200..299, so a cut among them leaves
// exactly the ones below it). It returns the records in offset order.
func cleanedLog(t *testing.T, dir string) (*Manager, *Log, []kv) {
	t.Helper()
	m, l := openCompacted(t, dir)
	var recs []kv
	for i := range 200 {
		recs = append(recs, kv{fmt.Sprintf("a%03d", i%20), fmt.Sprintf("A%d", i)})
	}
	for i := range 100 {
		recs = append(recs, kv{fmt.Sprintf("b%03d", i), fmt.Sprintf("B%d", i)})
	}
	appendKVs(t, l, recs[:200])
	appendKVs(t, l, recs[200:])
	cleanAll(t, m, l)
	if got := cleanedTo(l); got != 300 {
		t.Fatalf("cleaned to %d; want 300", got)
	}
	return m, l, recs
}

// openCompacted opens the Manager in dir, without cleaner threads (the
// tests clean), and creates or reopens the compacted log t-0.
func openCompacted(t testing.TB, dir string) (*Manager, *Log) {
	t.Helper()
	m := openManagerWith(t, dir, nil, func(c *Config) { c.CleanerThreads = -1 })
	lc := compactConfig()
	lc.SegmentBytes = 2 << 10
	return m, createLog(t, m, lc)
}

// tailUpdates are the appends after the truncation: 50 updates of ten
// keys of the truncated tail (b060..b069, with new values), then 50 of
// ten keys that survived it. The first 50 are dirty only if the cleaner
// checkpoint went down with the truncation; nothing after them updates
// their keys, so a cleaner that skips them keeps five records per key.
func tailUpdates() []kv {
	var recs []kv
	for i := range 50 {
		recs = append(recs, kv{fmt.Sprintf("b%03d", 60+i%10), fmt.Sprintf("C%d", i)})
	}
	for i := range 50 {
		k := fmt.Sprintf("a%03d", i%10)
		if i%10 >= 5 {
			k = fmt.Sprintf("b%03d", i%10-5)
		}
		recs = append(recs, kv{k, fmt.Sprintf("D%d", i)})
	}
	return recs
}

// appendTail appends tailUpdates in two runs of segments, so that the
// first 50 lie in segments wholly below a stale cleaner checkpoint at 300
// when appended from 250.
func appendTail(t testing.TB, l *Log) {
	t.Helper()
	recs := tailUpdates()
	appendKVs(t, l, recs[:50])
	appendKVs(t, l, recs[50:])
}

// latestOf is the table of recs: the latest value per key.
func latestOf(recs []kv) map[string]string {
	table := map[string]string{}
	for _, r := range recs {
		table[r.k] = r.v
	}
	return table
}

// cleanAll runs the cleaner until it finds nothing to clean.
func cleanAll(t testing.TB, m *Manager, l *Log) {
	t.Helper()
	for range 20 {
		if !m.cleaner.cleanOne(context.Background()) {
			return
		}
	}
	t.Fatalf("the cleaner still finds work after 20 cleanings, at %d", cleanedTo(l))
}

func cleanedTo(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cleanedTo
}

// cleanedToOnDisk reads the cleaner checkpoint file; -1 if there is none.
func cleanedToOnDisk(t testing.TB, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if os.IsNotExist(err) {
		return -1
	}
	must(t, err)
	off, err := decodeCleanerCheckpoint(b)
	must(t, err)
	return off
}

// checkCompacted checks a log cleaned to its end: its table is want and
// it holds exactly one record per key, the latest.
func checkCompacted(t testing.TB, l *Log, want map[string]string) {
	t.Helper()
	if got, end := cleanedTo(l), l.LogEndOffset(); got != end {
		t.Fatalf("cleaned to %d; want the log end %d", got, end)
	}
	if got := logTable(t, l); !maps.Equal(got, want) {
		t.Fatalf("table\n%s\nwant\n%s", formatTable(got), formatTable(want))
	}
	n := 0
	for _, h := range readBatches(t, l, l.LogStartOffset()) {
		n += int(h.NumRecords)
	}
	if n != len(want) {
		t.Fatalf("the cleaned log holds %d records for %d keys: superseded records were kept", n, len(want))
	}
}

// After a TruncateTo below the cleaner's first dirty offset, the batches
// appended in place of the cut ones are dirty, also after a reopen (clean
// or after a crash): the cleaner compacts them to the latest value per key
// among the surviving records and the new ones, with nothing of the cut
// tail left.
func TestTruncateLowersCleanerCheckpoint(t *testing.T) {
	for _, shutdown := range []string{"clean", "crash"} {
		t.Run(shutdown, func(t *testing.T) {
			dir := t.TempDir()
			m, l, recs := cleanedLog(t, dir)
			end, err := l.TruncateTo(context.Background(), 250)
			must(t, err)
			if end != 250 {
				t.Fatalf("truncated to %d; want 250", end)
			}
			if mem, disk := cleanedTo(l), cleanedToOnDisk(t, l.dir); mem != 250 || disk != 250 {
				t.Fatalf("cleaner's first dirty offset %d in memory, %d on disk; want 250", mem, disk)
			}
			appendTail(t, l)
			if shutdown == "crash" {
				crash(t, m)
			} else {
				must(t, m.Close())
			}
			m, l = openCompacted(t, dir)
			defer m.Close()
			cleanAll(t, m, l)
			checkCompacted(t, l, latestOf(append(recs[:250:250], tailUpdates()...)))
		})
	}
}

// A crash at any step of a TruncateTo below the cleaner's first dirty
// offset leaves a cleaner checkpoint at or below the log that reopens
// (the old log, or one cut at or above the truncation point); the batches
// appended after it are then compacted like any dirty ones.
func TestTruncateCleanerCheckpointCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rule    faultRule
		wantEnd int64 // 0: a segment base in (250, 300]
	}{
		{"before the cleaner checkpoint", faultRule{op: opCheckpoint, path: cleanerCheckpointFile}, 300},
		{"before the segments go", faultRule{op: opRename, path: segmentName(300, logExt)}, 300},
		{"before the cut", faultRule{op: opTruncate, path: logExt}, 0},
		{"after the cut", faultRule{op: opSnapshot, path: snapshotFile}, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, l, recs := cleanedLog(t, dir)
			rule := tc.rule
			rule.err = syscall.EIO
			clear := injectFaults(t, rule)
			if _, err := l.TruncateTo(context.Background(), 250); err == nil {
				t.Fatal("TruncateTo with a failing step succeeded")
			}
			clear()
			crash(t, m)
			disk := cleanedToOnDisk(t, l.dir)

			m, l = openCompacted(t, dir)
			end := l.LogEndOffset()
			if tc.wantEnd > 0 && end != tc.wantEnd || tc.wantEnd == 0 && (end <= 250 || end > 300) {
				t.Fatalf("reopened with log end %d; want %d (0: in (250, 300])", end, tc.wantEnd)
			}
			if disk > end {
				t.Fatalf("the crash left the cleaner checkpoint at %d, past the log end %d", disk, end)
			}
			// Reopen again after the appends, so that only the files
			// say what is clean.
			appendTail(t, l)
			must(t, m.Close())
			m, l = openCompacted(t, dir)
			defer m.Close()
			cleanAll(t, m, l)
			checkCompacted(t, l, latestOf(append(recs[:end:end], tailUpdates()...)))
		})
	}
}

// A cleaner checkpoint past the log end at open (left by a TruncateTo
// that did not lower it) is lowered to the log end, on disk too, so the
// batches appended next are dirty.
func TestOpenLowersCleanerCheckpointPastLogEnd(t *testing.T) {
	dir := t.TempDir()
	m, l, recs := cleanedLog(t, dir)
	_, err := l.TruncateTo(context.Background(), 250)
	must(t, err)
	must(t, l.writeCleanedTo(300)) // as TruncateTo left it before the fix
	must(t, m.Close())

	m, l = openCompacted(t, dir)
	if mem, disk := cleanedTo(l), cleanedToOnDisk(t, l.dir); mem != 250 || disk != 250 {
		t.Fatalf("after open: first dirty offset %d in memory, %d on disk; want 250", mem, disk)
	}
	appendTail(t, l)
	must(t, m.Close())
	m, l = openCompacted(t, dir)
	defer m.Close()
	cleanAll(t, m, l)
	checkCompacted(t, l, latestOf(append(recs[:250:250], tailUpdates()...)))
}

// The cleaner leaves the batches above the high watermark alone: a
// follower may yet truncate them, and records they superseded must still
// be there when it does. Cut back to its high watermark, the log holds the
// latest committed value of every key, compacted.
func TestCleanerStopsAtHighWatermark(t *testing.T) {
	m := openManagerWith(t, t.TempDir(), nil, func(c *Config) { manualHW(c); c.CleanerThreads = -1 })
	defer m.Close()
	lc := compactConfig()
	lc.SegmentBytes = 2 << 10
	l := createLog(t, m, lc)
	var recs []kv
	for i := range 300 {
		recs = append(recs, kv{fmt.Sprintf("a%03d", i%20), fmt.Sprintf("A%d", i)})
	}
	appendKVs(t, l, recs[:200])
	appendKVs(t, l, recs[200:])
	l.SetHighWatermark(200)
	cleanAll(t, m, l)
	if got := cleanedTo(l); got != 200 {
		t.Fatalf("cleaned to %d; want the high watermark 200", got)
	}
	end, err := l.TruncateTo(context.Background(), 200)
	must(t, err)
	if end != 200 {
		t.Fatalf("truncated to %d; want 200", end)
	}
	checkCompacted(t, l, latestOf(recs[:200]))
}
