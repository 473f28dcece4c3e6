package storage

import (
	"context"
	"testing"
)

// A checkpoint written by the background goroutine for a Log that was
// deleted (and its topic re-created) while checkpointAll was iterating.
func TestStaleCheckpointAfterDeleteRecreate(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	old := createLog(t, m, smallConfig())
	for i := 0; i < 10; i++ {
		mustAppend(t, old, batchAt(i, 1, 1000), false)
	}
	if _, err := old.DeleteRecordsBefore(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	stale := m.logs() // what checkpointAll iterates over
	if err := m.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	// case 1: directory gone: ERROR "checkpoint failed" in production
	for _, l := range stale {
		t.Logf("persist on deleted log: %v", l.checkpointIfOpen())
	}
	// case 2: topic re-created with the same name before the stale write
	nl := createLog(t, m, smallConfig())
	mustAppend(t, nl, batchAt(0, 1, 1000), true)
	for _, l := range stale {
		t.Logf("persist on deleted log after re-create: %v", l.checkpointIfOpen())
	}
	cp, err := readCheckpoint(nl.dir)
	t.Logf("new log's checkpoint on disk: %+v err=%v", cp, err)
	crash(t, m)
	m2 := openManager(t, dir, nil)
	defer m2.Close()
	l2 := m2.Log("t", 0)
	t.Logf("after restart: logStart=%d hw=%d", l2.LogStartOffset(), l2.HighWatermark())
	if l2.LogStartOffset() != 0 || l2.HighWatermark() != 1 {
		t.Errorf("re-created topic corrupted by stale checkpoint: logStart=%d hw=%d, want 0 and 1", l2.LogStartOffset(), l2.HighWatermark())
	}
}
