package quorum

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type tcpMember struct {
	node *Node
	tr   *TCPTransport
	sm   *listMachine
	addr string
}

// startTCP starts members 1..n on loopback listeners, each with cluster id
// clusters[i].
func startTCP(t *testing.T, clusters []string, logs *syncBuf) []*tcpMember {
	t.Helper()
	return startTCPSnapshotting(t, clusters, logs, 0)
}

// startTCPSnapshotting is startTCP with members that snapshot every
// snapshotBytes of commands (0: the default).
func startTCPSnapshotting(t *testing.T, clusters []string, logs *syncBuf, snapshotBytes int64) []*tcpMember {
	t.Helper()
	return startTCPSecured(t, clusters, logs, snapshotBytes, make([]Security, len(clusters)))
}

// startTCPSecured is startTCPSnapshotting with member i's connections
// secured by secs[i].
func startTCPSecured(t *testing.T, clusters []string, logs *syncBuf, snapshotBytes int64, secs []Security) []*tcpMember {
	t.Helper()
	var lns []net.Listener
	addrs := map[uint64]string{}
	var ids []uint64
	for i := range clusters {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs[uint64(i+1)] = ln.Addr().String()
		ids = append(ids, uint64(i+1))
	}
	var ms []*tcpMember
	for i, cl := range clusters {
		id := uint64(i + 1)
		peers := map[uint64]string{}
		for pid, a := range addrs {
			if pid != id {
				peers[pid] = a
			}
		}
		logger := slog.New(slog.NewTextHandler(logs, nil))
		tr := NewTCPTransport(TCPConfig{ID: id, ClusterID: cl, Listener: lns[i], Peers: peers, Logger: logger, Security: secs[i]})
		sm := &listMachine{}
		n, err := Start(Config{ID: id, Voters: ids, Dir: filepath.Join(t.TempDir(), fmt.Sprint(id)), StateMachine: sm,
			Transport: tr, TickInterval: 10 * time.Millisecond, Logger: logger, SnapshotBytes: snapshotBytes, CatchUpEntries: 5})
		if err != nil {
			t.Fatal(err)
		}
		tr.Attach(n)
		m := &tcpMember{node: n, tr: tr, sm: sm, addr: addrs[id]}
		ms = append(ms, m)
		t.Cleanup(func() { m.node.Close(); m.tr.Close() })
	}
	return ms
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func proposeRetry(t *testing.T, n *Node, cmd string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := n.Propose(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not committed within 10s", cmd)
}

func TestTCPTransport(t *testing.T) {
	ms := startTCP(t, []string{"c", "c", "c"}, &syncBuf{})
	var want []string
	for i := range 30 {
		cmd := fmt.Sprintf("m%d", i)
		proposeRetry(t, ms[i%3].node, cmd)
		want = append(want, cmd)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		same := true
		for _, m := range ms {
			same = same && slices.Equal(m.sm.list(), want)
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not converge: %v / %v / %v", ms[0].sm.list(), ms[1].sm.list(), ms[2].sm.list())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := ms[0].node.Status(context.Background())
	if err != nil || st.Leader == 0 || !slices.Equal(st.Voters, []uint64{1, 2, 3}) {
		t.Errorf("status %+v, %v", st, err)
	}
}

// A member of another cluster is refused at the hello, with a log line
// naming both cluster ids, and cannot join the vote.
func TestTCPTransportRefusesOtherCluster(t *testing.T) {
	logs := &syncBuf{}
	ms := startTCP(t, []string{"c", "c", "other"}, logs)
	proposeRetry(t, ms[0].node, "x")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `belongs to cluster \"other\"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if slices.Contains(ms[2].sm.list(), "x") {
		t.Error("the member of another cluster applied the command")
	}
}
