package quorum

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// listMachine is a state machine that records every command in order.
type listMachine struct {
	mu   sync.Mutex
	cmds []string
}

func (m *listMachine) Apply(_ uint64, cmd []byte) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cmds = append(m.cmds, string(cmd))
	return len(m.cmds)
}

func (m *listMachine) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return []byte(strings.Join(m.cmds, "\n")), nil
}

func (m *listMachine) Restore(data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cmds = nil
	if len(data) > 0 {
		m.cmds = strings.Split(string(data), "\n")
	}
	return nil
}

func (m *listMachine) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.cmds)
}

// simNet connects in-process members. Delivery is asynchronous and may
// drop messages at random or on cut links, as a real network does.
type simNet struct {
	mu    sync.Mutex
	nodes map[uint64]*Node
	cut   map[uint64]bool // members whose links are all down
	rng   *rand.Rand
	loss  float64
}

type simTransport struct {
	net  *simNet
	from uint64
}

func (t simTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		t.net.deliver(t.from, m)
	}
}

func (n *simNet) deliver(from uint64, m *pb.Message) {
	n.mu.Lock()
	to := n.nodes[m.GetTo()]
	drop := n.cut[from] || n.cut[m.GetTo()] || n.rng.Float64() < n.loss
	sender := n.nodes[from]
	n.mu.Unlock()
	if m.GetType() == pb.MessageType_MsgSnap && sender != nil {
		sender.ReportSnapshot(m.GetTo(), !drop && to != nil)
	}
	if drop || to == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = to.Step(ctx, m)
}

type cluster struct {
	t     *testing.T
	net   *simNet
	dirs  map[uint64]string
	sms   map[uint64]*listMachine
	ids   []uint64
	snapB int64
}

func newCluster(t *testing.T, size int, snapshotBytes int64) *cluster {
	c := &cluster{t: t, net: &simNet{nodes: map[uint64]*Node{}, cut: map[uint64]bool{}, rng: rand.New(rand.NewPCG(1, 2))},
		dirs: map[uint64]string{}, sms: map[uint64]*listMachine{}, snapB: snapshotBytes}
	for i := range size {
		id := uint64(i + 1)
		c.ids = append(c.ids, id)
		c.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint(id))
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(func() {
		for _, id := range c.ids {
			c.stop(id)
		}
	})
	return c
}

func (c *cluster) start(id uint64) {
	sm := &listMachine{}
	n, err := Start(Config{ID: id, Voters: c.ids, Dir: c.dirs[id], StateMachine: sm,
		Transport: simTransport{c.net, id}, TickInterval: 5 * time.Millisecond, SnapshotBytes: c.snapB, CatchUpEntries: 5})
	if err != nil {
		c.t.Fatal(err)
	}
	c.net.mu.Lock()
	c.net.nodes[id], c.sms[id] = n, sm
	c.net.mu.Unlock()
}

func (c *cluster) stop(id uint64) {
	c.net.mu.Lock()
	n := c.net.nodes[id]
	delete(c.net.nodes, id)
	c.net.mu.Unlock()
	if n != nil {
		n.Close()
	}
}

func (c *cluster) node(id uint64) *Node {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.net.nodes[id]
}

func (c *cluster) setCut(id uint64, cut bool) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	c.net.cut[id] = cut
}

// leader waits until the reachable members agree on one leader among
// those running and not cut off.
func (c *cluster) leader() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, id := range c.ids {
			n := c.node(id)
			if n == nil {
				continue
			}
			st, err := n.Status(context.Background())
			c.net.mu.Lock()
			cut := c.net.cut[id]
			c.net.mu.Unlock()
			if err == nil && st.Leader == id && !cut {
				return id
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10s")
	return 0
}

// propose sends cmd through member via until it is applied there,
// retrying through leader changes.
func (c *cluster) propose(via uint64, cmd string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n := c.node(via)
		if n == nil {
			c.t.Fatalf("member %d is down", via)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := n.Propose(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrLeaderChanged) && !errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatalf("propose %s via %d: %v", cmd, via, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("propose %s via %d: not applied within 15s", cmd, via)
}

// converged waits until every running member applied the same commands,
// and checks that each acknowledged command is there.
func (c *cluster) converged(acked []string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lists map[uint64][]string
	for time.Now().Before(deadline) {
		lists = map[uint64][]string{}
		same := true
		var first []string
		for i, id := range c.ids {
			if c.node(id) == nil {
				continue
			}
			lists[id] = c.sms[id].list()
			if i == 0 || first == nil {
				first = lists[id]
			} else if !slices.Equal(first, lists[id]) {
				same = false
			}
		}
		if same {
			for _, a := range acked {
				if !slices.Contains(first, a) {
					c.t.Fatalf("acknowledged command %s was lost: %v", a, first)
				}
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	for id, l := range lists {
		c.t.Logf("member %d applied %d commands", id, len(l))
	}
	c.t.Fatal("members did not converge within 10s")
}

// checkPrefixes: what any two members applied agrees up to the shorter
// list (no member applied a different command at the same position).
func (c *cluster) checkPrefixes() {
	c.t.Helper()
	var lists [][]string
	for _, id := range c.ids {
		if c.node(id) != nil {
			lists = append(lists, c.sms[id].list())
		}
	}
	for i := range lists {
		for j := range lists {
			n := min(len(lists[i]), len(lists[j]))
			if !slices.Equal(lists[i][:n], lists[j][:n]) {
				c.t.Fatalf("members diverged: %v vs %v", lists[i][:n], lists[j][:n])
			}
		}
	}
}

func TestQuorumReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := newCluster(t, 3, 0)
	var acked []string
	for i := range 20 {
		cmd := fmt.Sprintf("a%d", i)
		c.propose(c.ids[i%3], cmd)
		acked = append(acked, cmd)
	}
	c.converged(acked)
	old := c.leader()
	c.stop(old)
	var other uint64
	for _, id := range c.ids {
		if id != old {
			other = id
		}
	}
	for i := range 20 {
		cmd := fmt.Sprintf("b%d", i)
		c.propose(other, cmd)
		acked = append(acked, cmd)
	}
	c.checkPrefixes()
	c.start(old) // restarts from its WAL and catches up
	c.converged(acked)
}

// A leader cut off from the others cannot commit; the majority elects a
// new leader and goes on; after healing the old leader follows it.
func TestQuorumMinorityCannotCommit(t *testing.T) {
	c := newCluster(t, 3, 0)
	c.propose(1, "x")
	old := c.leader()
	c.setCut(old, true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := c.node(old).Propose(ctx, []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("a leader cut off from the majority committed a command")
	}
	var other uint64
	for _, id := range c.ids {
		if id != old {
			other = id
		}
	}
	c.propose(other, "y")
	c.setCut(old, false)
	c.converged([]string{"x", "y"})
	if slices.Contains(c.sms[old].list(), "lost") {
		t.Error("the cut-off leader's command was applied")
	}
}

// With tiny snapshots a member that was down catches up from a snapshot,
// and restarts rebuild state from snapshot plus WAL.
func TestQuorumSnapshots(t *testing.T) {
	c := newCluster(t, 3, 64)
	c.propose(1, "first")
	l := c.leader()
	lag := c.ids[0]
	if lag == l {
		lag = c.ids[1]
	}
	c.stop(lag)
	var acked []string
	for i := range 50 {
		cmd := fmt.Sprintf("s%d", i)
		c.propose(l, cmd)
		acked = append(acked, cmd)
	}
	c.start(lag)
	c.converged(append([]string{"first"}, acked...))
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	c.propose(l, "after-restart")
	c.converged(append(acked, "after-restart"))
}

// Random loss, cuts and restarts over several seeds: members never
// diverge, and every acknowledged command survives.
func TestQuorumRandomFaults(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := newCluster(t, 3, 256)
			c.net.rng = rand.New(rand.NewPCG(seed, 9))
			c.net.loss = 0.05
			rng := rand.New(rand.NewPCG(seed, 10))
			var acked []string
			for i := range 60 {
				switch rng.IntN(10) {
				case 0:
					id := c.ids[rng.IntN(3)]
					c.stop(id)
					c.start(id)
				case 1:
					id := c.ids[rng.IntN(3)]
					c.setCut(id, true)
					c.propose(c.ids[(int(id))%3], fmt.Sprintf("c%d", i)) // a member that is not cut
					c.setCut(id, false)
					acked = append(acked, fmt.Sprintf("c%d", i))
					continue
				}
				cmd := fmt.Sprintf("r%d", i)
				c.propose(c.ids[rng.IntN(3)], cmd)
				acked = append(acked, cmd)
				c.checkPrefixes()
			}
			c.net.mu.Lock()
			c.net.loss = 0
			c.net.mu.Unlock()
			c.converged(acked)
		})
	}
}

// leaderChanges reads member id's Status.LeaderChanges.
func (c *cluster) leaderChanges(id uint64) uint64 {
	c.t.Helper()
	st, err := c.node(id).Status(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return st.LeaderChanges
}

// waitFor polls cond until it holds, failing after 10s.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderChanges: every member counts the first leader it sees and
// each leader after it; a restarted member starts over.
func TestLeaderChanges(t *testing.T) {
	c := newCluster(t, 3, 0)
	first := c.leader()
	c.propose(first, "a")
	for _, id := range c.ids {
		c.waitFor(fmt.Sprintf("member %d sees the first leader", id), func() bool { return c.leaderChanges(id) >= 1 })
	}
	before := map[uint64]uint64{}
	for _, id := range c.ids {
		before[id] = c.leaderChanges(id)
	}
	c.stop(first)
	second := c.leader()
	if second == first {
		t.Fatalf("member %d still leads after it stopped", first)
	}
	for _, id := range c.ids {
		if id != first {
			c.waitFor(fmt.Sprintf("member %d sees the new leader", id), func() bool { return c.leaderChanges(id) > before[id] })
		}
	}
	c.start(first)
	c.waitFor("the restarted member sees the leader", func() bool {
		st, err := c.node(first).Status(context.Background())
		return err == nil && st.Leader == second
	})
	if n := c.leaderChanges(first); n != 1 {
		t.Fatalf("the restarted member saw %d leader changes, want 1 (the leader it found)", n)
	}
}
