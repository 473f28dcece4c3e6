package node_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCreateTopicsFailureLeavesNothing makes one partition's log
// impossible to create (a file where its directory goes): CreateTopics
// answers an error, and the topic does not exist, now or after a restart,
// and none of its logs is left behind.
func TestCreateTopicsFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, nil)
	if err := os.WriteFile(filepath.Join(dir, "logs", "half-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(t, tn.KafkaAddr())
	resp, err := adm.CreateTopic(testContext(t), 3, 1, nil, "half")
	if err == nil && resp.Err == nil {
		t.Fatal("CreateTopics succeeded with a partition whose log cannot be created")
	}
	check := func(when string) {
		t.Helper()
		td, err := newAdmin(t, tn.KafkaAddr()).ListTopics(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if td.Has("half") {
			t.Fatalf("%s: topic exists after a failed CreateTopics", when)
		}
		if _, err := os.Stat(filepath.Join(dir, "logs", "half-0")); !os.IsNotExist(err) {
			t.Fatalf("%s: log of the failed topic left behind: %v", when, err)
		}
	}
	check("before a restart")
	tn.stop(t)
	if err := os.Remove(filepath.Join(dir, "logs", "half-1")); err != nil {
		t.Fatal(err)
	}
	tn = startNode(t, dir, nil)
	check("after a restart")
}
