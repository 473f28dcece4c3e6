package node_test

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/node"
)

// TestSecondNodeOnSameDirRefused: two nodes on one data directory would
// both acknowledge writes to the same logs and lose each other's records;
// the second must refuse to start while the first runs, and the lock must
// go with the first node when it stops.
func TestSecondNodeOnSameDirRefused(t *testing.T) {
	first := startNode(t, "", nil)
	_, err := node.Start(context.Background(), node.Config{
		DataDir: first.dir, KafkaAddr: "127.0.0.1:0", NodeID: 1, Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil || !strings.Contains(err.Error(), "data directory in use") {
		t.Fatalf("second node on the same directory: got %v, want a data directory in use error", err)
	}
	// The refused start must not have disturbed the running node.
	cl := newClient(t, first.KafkaAddr(), kgo.DefaultProduceTopic("still-served"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("first node after the refused start: %v", err)
	}
	first.stop(t)
	startNode(t, first.dir, nil)
}

// TestDataDirLockProcesses runs the real binary: a second eddy serve on a
// directory held by a live one exits with a clear error, and after the
// holder is killed with SIGKILL the directory can be used again at once.
func TestDataDirLockProcesses(t *testing.T) {
	dir := t.TempDir()
	holder := startChild(t, dir)
	cmd := exec.Command(eddyBinary(t), "serve", "--data-dir", dir, "--kafka-addr", freeAddr(t), "--http-addr", "")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		defer close(done)
		out, err = cmd.CombinedOutput()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("second eddy serve on a locked directory kept running:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "data directory in use") {
		t.Fatalf("second eddy serve: err %v, output:\n%s", err, out)
	}
	holder.kill()
	next := startChild(t, dir)
	cl := newClient(t, next.addr, kgo.DefaultProduceTopic("after-kill"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("node started after the holder was killed: %v", err)
	}
}
