package storage

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// openFDs counts the process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

func openManagerLimit(t testing.TB, dir string, maxOpen int) *Manager {
	t.Helper()
	m, err := Open(context.Background(), Config{Dir: dir, Logger: testLogger(t), RetentionCheckInterval: time.Hour, MaxOpenFiles: maxOpen})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func createPublished(t testing.TB, m *Manager, topic string, n int32, lc LogConfig) {
	t.Helper()
	nl, err := m.CreateLogs(topic, 0, n, lc)
	if err != nil {
		t.Fatalf("CreateLogs: %v", err)
	}
	must(t, nl.Publish())
}

// fdSlack covers descriptors the test itself and the runtime open at times
// (the /proc listing, atomic checkpoint writes, directory syncs).
const fdSlack = 16

// TestManyLogsFewDescriptors creates 5,000 logs under a budget of 64 open
// segment files, reopens them, appends to and reads every one of them
// while other goroutines read at random (so files are evicted under
// readers), and checks that the process never holds more than the budget
// plus what is in flight.
func TestManyLogsFewDescriptors(t *testing.T) {
	const logs, budget, workers = 5000, 64, 16
	base := openFDs(t)
	dir := t.TempDir()
	m := openManagerLimit(t, dir, budget)
	createPublished(t, m, "many", logs, smallConfig())
	if got := openFDs(t) - base; got > budget+fdSlack {
		t.Fatalf("%d descriptors open after creating %d logs, budget %d", got, logs, budget)
	}
	must(t, m.Close())
	m = openManagerLimit(t, dir, budget)
	// Appended logs would each fsync at a clean close; the test is done
	// with them by then.
	defer crash(t, m)
	if got := openFDs(t) - base; got > budget+fdSlack {
		t.Fatalf("%d descriptors open after reopening %d logs, budget %d", got, logs, budget)
	}
	if n := m.files.openFiles(); n != 0 {
		t.Fatalf("%d segment files left open after reopening idle logs", n)
	}
	var maxSeen atomic.Int64
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for i := range 500 {
				readSome(t, m.Log("many", int32(rng.IntN(logs))))
				if i%20 == 0 {
					maxSeen.Store(max(maxSeen.Load(), int64(openFDs(t)-base)))
				}
			}
		}()
	}
	forEach(logs, workers, func(i int) {
		mustAppend(t, m.Log("many", int32(i)), batchAt(i%200, 3, 1000), false)
	})
	readers.Wait()
	// In flight at most: each worker's active log, index files being
	// written and each reader's pinned chunk.
	if got := maxSeen.Load(); got > budget+3*workers+4+fdSlack {
		t.Errorf("up to %d descriptors open while appending and reading, budget %d", got, budget)
	}
	checkAllLogs(t, m, logs)
	if got := openFDs(t) - base; got > budget+fdSlack {
		t.Errorf("%d descriptors open when idle, budget %d", got, budget)
	}
}

// readSome reads a log from its start and checks the batches, releasing
// the chunks.
func readSome(t testing.TB, l *Log) {
	res, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Errorf("Read %d: %v", l.partition, err)
		return
	}
	defer res.Release()
	for _, c := range res.Chunks {
		b, err := c.ReadAll()
		if err != nil {
			t.Errorf("reading chunk of %d: %v", l.partition, err)
			return
		}
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err == nil && h.Size() <= len(b) {
				_, err = record.Validate(b[:h.Size()])
			}
			if err != nil {
				t.Errorf("chunk of %d: %v", l.partition, err)
				return
			}
			b = b[h.Size():]
		}
	}
}

// checkAllLogs checks that log i holds the batch the test appended.
func checkAllLogs(t *testing.T, m *Manager, logs int) {
	t.Helper()
	forEach(logs, 8, func(i int) {
		l := m.Log("many", int32(i))
		if l == nil {
			t.Errorf("log %d missing", i)
			return
		}
		res, err := l.Read(0, 1<<20, true)
		if err != nil {
			t.Errorf("Read %d: %v", i, err)
			return
		}
		defer res.Release()
		var got []byte
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			if err != nil {
				t.Errorf("reading %d: %v", i, err)
				return
			}
			got = append(got, b...)
		}
		want := batchAt(i%200, 3, 1000)
		if len(got) != len(want) || l.LogEndOffset() != 3 {
			t.Errorf("log %d: %d bytes, end %d; want %d bytes, end 3", i, len(got), l.LogEndOffset(), len(want))
			return
		}
		// Offsets are stamped on append; compare the records.
		if !bytes.Equal(got[61:], want[61:]) {
			t.Errorf("log %d holds other records than appended", i)
		}
	})
}

// TestPinnedChunkOutlivesEvictionAndDelete holds a Chunk while the cache
// evicts everything else and the topic is deleted: it stays readable, and
// its descriptor is closed at Release.
func TestPinnedChunkOutlivesEvictionAndDelete(t *testing.T) {
	m := openManagerLimit(t, t.TempDir(), 4)
	defer m.Close()
	createPublished(t, m, "pin", 1, smallConfig())
	createPublished(t, m, "other", 50, smallConfig())
	b := batchAt(7, 5, 1000)
	mustAppend(t, m.Log("pin", 0), b, true)
	res, err := m.Log("pin", 0).Read(0, 1<<20, true)
	if err != nil || len(res.Chunks) != 1 {
		t.Fatalf("Read: %v, %d chunks", err, len(res.Chunks))
	}
	for i := range int32(50) {
		mustAppend(t, m.Log("other", i), batchAt(int(i), 1, 1000), false)
	}
	if got := m.files.openFiles(); got > 4+1 {
		t.Fatalf("%d segment files open, budget 4 plus the pinned one", got)
	}
	must(t, m.DeleteTopic("pin"))
	got, err := res.Chunks[0].ReadAll()
	if err != nil || !bytes.Equal(got[61:], b[61:]) {
		t.Fatalf("pinned chunk after eviction and delete: %v", err)
	}
	f := res.Chunks[0].File
	res.Release()
	if _, err := f.Stat(); err == nil {
		t.Fatal("the deleted segment's file is still open after Release")
	}
}

// TestCreateLogsAllOrNothing fails the creation of one partition (and then
// the final sync): nothing is left on disk or in the manager.
func TestCreateLogsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	m := openManagerLimit(t, dir, 16)
	defer m.Close()
	for _, rule := range []faultRule{
		{op: opOpen, path: fmt.Sprintf("%s/t-37/", dir), fault: fault{err: os.ErrPermission}},
		{op: opSync, path: dir, fault: fault{err: os.ErrPermission}},
	} {
		injectFaults(t, rule)
		if _, err := m.CreateLogs("t", 0, 100, smallConfig()); err == nil {
			t.Fatalf("CreateLogs with %v injected succeeded", rule.op)
		}
		faults.Store(nil)
		ents, err := os.ReadDir(dir)
		must(t, err)
		ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == keyCheckFile })
		if len(ents) != 0 || len(m.Topics()) != 0 {
			t.Fatalf("failed CreateLogs left %d entries on disk and topics %v", len(ents), m.Topics())
		}
	}
	nl, err := m.CreateLogs("t", 0, 10, smallConfig())
	must(t, err)
	if m.Log("t", 0) != nil {
		t.Fatal("unpublished log is visible")
	}
	must(t, nl.Discard())
	ents, _ := os.ReadDir(dir)
	if ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == keyCheckFile }); len(ents) != 0 {
		t.Fatalf("Discard left %d entries", len(ents))
	}
}

// TestOpenShedsIdleFilesWhenOutOfDescriptors makes the process look out of
// descriptors once: the cache closes idle files and the read succeeds.
func TestOpenShedsIdleFilesWhenOutOfDescriptors(t *testing.T) {
	m := openManagerLimit(t, t.TempDir(), 64)
	defer m.Close()
	createPublished(t, m, "t", 20, smallConfig())
	for i := range int32(20) {
		mustAppend(t, m.Log("t", i), batchAt(int(i), 2, 1000), false)
	}
	l := m.Log("t", 0)
	l.mu.RLock()
	l.mu.segments[0].log.evict()
	l.mu.RUnlock()
	before := m.files.openFiles()
	injectFaults(t, faultRule{op: opOpen, path: l.dir, n: 1, fault: fault{err: syscall.EMFILE}})
	readSome(t, l)
	if after := m.files.openFiles(); after > before/2+1 {
		t.Fatalf("%d files open after running out of descriptors, %d before", after, before)
	}
}
