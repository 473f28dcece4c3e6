package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func startObserver(t *testing.T, ms []*tcpMember, id uint64, cluster, dir string, logs *syncBuf) (*Observer, *listMachine) {
	t.Helper()
	voters := map[uint64]string{}
	for i, m := range ms {
		voters[uint64(i+1)] = m.addr
	}
	sm := &listMachine{}
	o, err := StartObserver(ObserverConfig{ID: id, ClusterID: cluster, Voters: voters, Dir: dir, StateMachine: sm,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), SnapshotBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, sm
}

func waitList(t *testing.T, what string, sm *listMachine, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(sm.list(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %v, want %v", what, sm.list(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func proposeVia(t *testing.T, o *Observer, cmd string) any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := o.Propose(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return res
		}
		t.Logf("proposing %s: %v", cmd, err)
		if time.Now().After(deadline) {
			t.Fatalf("proposing %s through the observer: %v", cmd, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An observer started after the voters compacted their logs catches up
// from a snapshot, then follows new commands, proposes its own (answered
// by its own state machine), survives the loss of the leader it follows,
// and after a restart replays its own WAL before fetching again. The
// leader lists it in its status.
func TestObserver(t *testing.T) {
	logs := &syncBuf{}
	ms := startTCPSnapshotting(t, []string{"c", "c", "c"}, logs, 100)
	var want []string
	for i := range 40 {
		cmd := fmt.Sprintf("v%02d", i)
		proposeRetry(t, ms[i%3].node, cmd)
		want = append(want, cmd)
	}
	dir := t.TempDir()
	o, sm := startObserver(t, ms, 9, "c", dir, logs)
	waitList(t, "the observer", sm, want)
	if !strings.Contains(logs.String(), "quorum observer installed a snapshot") {
		t.Error("the observer caught up without the voters' snapshot: the test did not reach that path")
	}

	for i := range 5 {
		cmd := fmt.Sprintf("o%d", i)
		want = append(want, cmd)
		if res := proposeVia(t, o, cmd); res != len(want) {
			t.Fatalf("proposal %s answered %v, want its place %d", cmd, res, len(want))
		}
	}
	for _, m := range ms {
		waitList(t, fmt.Sprintf("voter %d", m.node.cfg.ID), m.sm, want)
	}

	st, err := o.Status(context.Background())
	if err != nil || st.Leader == 0 || st.Applied != st.Commit || !slices.Equal(st.Voters, []uint64{1, 2, 3}) || st.LeaderChanges != 1 {
		t.Fatalf("observer status %+v, %v", st, err)
	}
	lead := ms[st.Leader-1]
	deadline := time.Now().Add(5 * time.Second)
	for {
		ls, _ := lead.node.Status(context.Background())
		if _, ok := ls.Observers[9]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader's status does not list the observer: %+v", ls)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The leader goes; the observer follows the new one and proposes again.
	lead.node.Close()
	lead.tr.Close()
	want = append(want, "after-loss")
	proposeVia(t, o, "after-loss")
	waitList(t, "the observer", sm, want)
	if st2, _ := o.Status(context.Background()); st2.Leader == st.Leader || st2.Term <= st.Term || st2.LeaderChanges < 2 {
		t.Errorf("after the leader's loss the observer reports leader %d term %d, %d leader changes (was %d, %d, %d)",
			st2.Leader, st2.Term, st2.LeaderChanges, st.Leader, st.Term, st.LeaderChanges)
	}

	// Restarted, it holds everything before it fetches anything.
	o.Close()
	var live *tcpMember
	for _, m := range ms {
		if m != lead {
			live = m
		}
	}
	proposeRetry(t, live.node, "while-down")
	o2, sm2 := startObserver(t, ms, 9, "c", dir, logs)
	if got := sm2.list(); len(got) < len(want)-1 || !slices.Equal(got[:len(want)-1], want[:len(want)-1]) {
		t.Fatalf("after a restart the observer replayed %v, want at least %v", got, want[:len(want)-1])
	}
	want = append(want, "while-down")
	waitList(t, "the restarted observer", sm2, want)
	_ = o2
}

// An observer of another cluster is refused at the hello and applies
// nothing; one that claims a voter's id is refused before it starts.
func TestObserverRefused(t *testing.T) {
	logs := &syncBuf{}
	ms := startTCP(t, []string{"c", "c", "c"}, logs)
	proposeRetry(t, ms[0].node, "x")
	o, sm := startObserver(t, ms, 9, "other", t.TempDir(), logs)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `member 9 belongs to cluster \"other\"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(sm.list()) != 0 {
		t.Errorf("the observer of another cluster applied %v", sm.list())
	}
	if _, err := o.Propose(context.Background(), []byte("y")); !errors.Is(err, ErrNoLeader) {
		t.Errorf("a proposal through a refused observer: %v, want ErrNoLeader", err)
	}
	if _, err := StartObserver(ObserverConfig{ID: 2, ClusterID: "c", Voters: map[uint64]string{1: ms[0].addr, 2: ms[1].addr},
		Dir: t.TempDir(), StateMachine: &listMachine{}}); err == nil {
		t.Error("an observer with a voter's id started")
	}
}
