package meta_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/quorum"
)

// member is one node's replicated Store over a real quorum member.
type member struct {
	store *meta.Store
	q     *quorum.Node
	tr    *quorum.TCPTransport
}

type replicatedCluster struct {
	t     *testing.T
	dirs  []string
	addrs map[uint64]string
	lns   map[uint64]net.Listener
	ms    map[uint64]*member
	snapB int64
}

func newReplicated(t *testing.T, snapshotBytes int64) *replicatedCluster {
	c := &replicatedCluster{t: t, addrs: map[uint64]string{}, lns: map[uint64]net.Listener{}, ms: map[uint64]*member{}, snapB: snapshotBytes}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns[id], c.addrs[id] = ln, ln.Addr().String()
		c.dirs = append(c.dirs, t.TempDir())
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.ms {
			c.stop(id)
		}
	})
	return c
}

func (c *replicatedCluster) start(id uint64) {
	ln := c.lns[id]
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.addrs[id]); err != nil {
			c.t.Fatal(err)
		}
	}
	c.lns[id] = nil
	peers := map[uint64]string{}
	for p, a := range c.addrs {
		if p != id {
			peers[p] = a
		}
	}
	dir := c.dirs[id-1]
	store, err := meta.OpenReplicated(filepath.Join(dir, "meta"), int32(id), "cluster-x", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	tr := quorum.NewTCPTransport(quorum.TCPConfig{ID: id, ClusterID: "cluster-x", Listener: ln, Peers: peers})
	q, err := quorum.Start(quorum.Config{ID: id, Voters: []uint64{1, 2, 3}, Dir: filepath.Join(dir, "quorum"),
		StateMachine: store.Machine(), Transport: tr, TickInterval: 10 * time.Millisecond, SnapshotBytes: c.snapB})
	if err != nil {
		c.t.Fatal(err)
	}
	tr.Attach(q)
	store.SetLog(q)
	c.ms[id] = &member{store: store, q: q, tr: tr}
}

func (c *replicatedCluster) stop(id uint64) {
	m := c.ms[id]
	delete(c.ms, id)
	m.q.Close()
	m.tr.Close()
}

func topicRecord(name string, id byte) meta.TopicRecord {
	return meta.TopicRecord{ID: [16]byte{0: id, 15: 7}, Name: name, ReplicationFactor: 1,
		Partitions: []meta.Partition{meta.LocalPartition(1)}}
}

// create proposes a topic through member id, retrying while the quorum
// elects a leader. (A retry after a lost leader could meet its own first
// attempt, applied after all: the tests here never lose one that way.)
func (c *replicatedCluster) create(id uint64, name string, tid byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.ms[id].store.Apply(topicRecord(name, tid))
		if !errors.Is(err, meta.ErrNoQuorum) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *replicatedCluster) waitTopic(id uint64, name string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.ms[id].store.Topic(name); ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("member %d never saw topic %s", id, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReplicatedStore(t *testing.T) {
	c := newReplicated(t, 0)
	seen := make(chan string, 10)
	c.ms[3].store.Subscribe(func(prev, next *meta.Image) {
		for _, tp := range next.Topics() {
			if _, ok := prev.Topic(tp.Name); !ok {
				seen <- tp.Name
			}
		}
	})
	if err := c.create(1, "orders", 1); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 3; id++ {
		c.waitTopic(id, "orders")
	}
	if got := <-seen; got != "orders" {
		t.Errorf("subscriber of member 3 saw %q", got)
	}
	// The second proposal of the same name is refused by Apply, on every
	// member alike, and its proposer hears why.
	if err := c.create(2, "orders", 2); !errors.Is(err, meta.ErrTopicExists) {
		t.Errorf("duplicate topic through another member: %v, want ErrTopicExists", err)
	}
	// A member restarted from its WAL holds the same image.
	c.stop(2)
	if err := c.create(1, "payments", 3); err != nil {
		t.Fatal(err)
	}
	c.start(2)
	c.waitTopic(2, "payments")
	c.waitTopic(2, "orders")
}

// With tiny snapshots a member that missed changes catches up from the
// leader's snapshot, and restarts come back from snapshot plus WAL.
func TestReplicatedStoreSnapshots(t *testing.T) {
	c := newReplicated(t, 256)
	if err := c.create(1, "t0", 100); err != nil {
		t.Fatal(err)
	}
	c.stop(3)
	user := meta.ScramCredentialRecord{User: "alice",
		Credential: auth.FromSaltedPassword(auth.ScramSHA256, make([]byte, 32), []byte("salt"), 4096)}
	// Stopping a member can cost the leader its lead; the upsert is
	// idempotent, so it is simply proposed again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.ms[1].store.Apply(user)
		if err == nil {
			break
		}
		if !errors.Is(err, meta.ErrNoQuorum) && !errors.Is(err, quorum.ErrLeaderChanged) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 30 {
		if err := c.create(1, fmt.Sprintf("t%d", i+1), byte(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	c.start(3)
	c.waitTopic(3, "t30")
	if n := len(c.ms[3].store.Topics()); n != 31 {
		t.Errorf("member 3 holds %d topics after catching up, want 31", n)
	}
	if _, ok := c.ms[3].store.Image().ScramCredential("alice", auth.ScramSHA256); !ok {
		t.Error("member 3 caught up without the SCRAM user")
	}
	for id := uint64(1); id <= 3; id++ {
		c.stop(id)
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id := uint64(1); id <= 3; id++ {
		for len(c.ms[id].store.Topics()) != 31 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if n := len(c.ms[id].store.Topics()); n != 31 {
			t.Errorf("member %d holds %d topics after a full restart, want 31", id, n)
		}
		if _, ok := c.ms[id].store.Image().ScramCredential("alice", auth.ScramSHA256); !ok {
			t.Errorf("member %d lost the SCRAM user in a full restart", id)
		}
	}
}
