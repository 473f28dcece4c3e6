package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Errors returned by a Node.
var (
	ErrNoLeader = errors.New("quorum: no leader")
	// ErrLeaderChanged fails a proposal waiting when the leader changed:
	// it may have been lost with the old leader, or may still commit.
	ErrLeaderChanged = errors.New("quorum: leader changed; the proposal may or may not have been applied")
	ErrStopped       = errors.New("quorum: stopped")
	// ErrOutcomeUnknown fails an observer's proposal waiting when the
	// observer caught up from a snapshot: whether the proposal is in it
	// cannot be told.
	ErrOutcomeUnknown = errors.New("quorum: caught up from a snapshot; the proposal may or may not have been applied")
)

// StateMachine is what the quorum replicates. Its methods are called from
// the Node's run goroutine only, in log order.
type StateMachine interface {
	// Apply applies one committed command. The result goes back to the
	// proposer, if it is waiting on this node; an Apply that refuses a
	// command deterministically returns the refusal as its result.
	Apply(index uint64, cmd []byte) any
	// Snapshot encodes the state after the last applied command.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's.
	Restore(data []byte) error
}

// Transport delivers raft messages to other members. Send must not block
// the caller for long: a message it cannot deliver is dropped, and raft
// retries.
type Transport interface {
	Send(msgs []*pb.Message)
}

// Config configures a Node.
type Config struct {
	ID     uint64
	Voters []uint64 // the initial voters, used only to bootstrap an empty directory
	Dir    string
	Logger *slog.Logger

	StateMachine StateMachine
	Transport    Transport

	TickInterval  time.Duration // default 100ms
	ElectionTicks int           // default 10: elections after about a second of silence
	// SnapshotBytes takes a snapshot once this many bytes of commands were
	// applied since the last one, bounding the WAL (Kafka: 20 MiB).
	SnapshotBytes int64
	// CatchUpEntries is how many entries before a snapshot stay in memory
	// (default 1000), so a follower or observer a little behind gets
	// entries, not the whole snapshot.
	CatchUpEntries uint64
}

func (c *Config) setDefaults() {
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = 20 << 20
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a Config that cannot run.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return errors.New("quorum: node id must be positive")
	case c.Dir == "":
		return errors.New("quorum: no directory")
	case c.StateMachine == nil || c.Transport == nil:
		return errors.New("quorum: state machine and transport are required")
	case len(c.Voters) > 0 && !slices.Contains(c.Voters, c.ID):
		return fmt.Errorf("quorum: node %d is not among the voters %v", c.ID, c.Voters)
	}
	return nil
}

// Node is one member of the metadata quorum: an etcd raft RawNode driven
// by one goroutine, its WAL, and the state machine it applies to.
type Node struct {
	cfg  Config
	log  *slog.Logger
	rn   *raft.RawNode
	mem  *raft.MemoryStorage
	wal  *wal
	conf *pb.ConfState

	applied       uint64
	snapIndex     uint64
	sinceSnapshot int64

	inbox     chan *pb.Message
	proposals chan *proposal
	statusReq chan chan Status
	reports   chan report
	done      chan struct{}
	stopped   chan struct{}
	nextSeq   uint64
	leader    uint64        // the leader last seen by the run loop
	changes   leaderChanges // owned by the run loop

	waiting *waiters
	mu      struct {
		sync.Mutex
		err error // why the run loop stopped
	}

	// progress is what observers' fetches wait on (observe.go).
	progress struct {
		sync.Mutex
		view      memberView
		advanced  chan struct{} // closed and replaced when view changes
		observers map[uint64]observerProgress
	}
}

// memberView is this member's leader, term and applied index, as the
// run loop last published them.
type memberView struct{ leader, term, applied uint64 }

// Start opens the node's WAL in cfg.Dir (bootstrapping a new quorum of
// cfg.Voters if it is empty), replays it into the state machine and starts
// the run goroutine. Close stops it.
func Start(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, st, err := openWAL(cfg.Dir)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, wal: w, mem: raft.NewMemoryStorage(),
		inbox: make(chan *pb.Message, 1024), proposals: make(chan *proposal, 256),
		statusReq: make(chan chan Status), reports: make(chan report, 256), done: make(chan struct{}), stopped: make(chan struct{})}
	n.waiting = newWaiters()
	n.progress.advanced = make(chan struct{})
	n.progress.observers = map[uint64]observerProgress{}
	if err := n.restore(st); err != nil {
		w.close()
		return nil, err
	}
	go n.run()
	return n, nil
}

// restore loads the WAL's state into raft's storage and the state machine,
// or bootstraps a new quorum.
func (n *Node) restore(st walState) error {
	fresh := st.snapshot == nil && len(st.entries) == 0 && isEmptyHardState(st.hard)
	if st.snapshot != nil {
		if err := n.mem.ApplySnapshot(st.snapshot); err != nil {
			return fmt.Errorf("quorum: loading snapshot: %w", err)
		}
		if err := n.cfg.StateMachine.Restore(st.snapshot.GetData()); err != nil {
			return fmt.Errorf("quorum: restoring snapshot: %w", err)
		}
		n.applied = st.snapshot.GetMetadata().GetIndex()
		n.snapIndex = n.applied
		n.conf = st.snapshot.GetMetadata().GetConfState()
	}
	if err := n.mem.SetHardState(st.hard); err != nil {
		return fmt.Errorf("quorum: loading hard state: %w", err)
	}
	if err := n.mem.Append(st.entries); err != nil {
		return fmt.Errorf("quorum: loading entries: %w", err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: n.cfg.ID, ElectionTick: n.cfg.ElectionTicks, HeartbeatTick: 1,
		Storage: n.mem, Applied: n.applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum: true, PreVote: true, Logger: raftLogger{n.log},
	})
	if err != nil {
		return fmt.Errorf("quorum: starting raft: %w", err)
	}
	n.rn = rn
	if !fresh {
		return nil
	}
	if len(n.cfg.Voters) == 0 {
		return errors.New("quorum: empty directory and no voters to bootstrap")
	}
	peers := make([]raft.Peer, len(n.cfg.Voters))
	for i, id := range n.cfg.Voters {
		peers[i] = raft.Peer{ID: id}
	}
	if err := rn.Bootstrap(peers); err != nil {
		return fmt.Errorf("quorum: bootstrapping: %w", err)
	}
	return nil
}

// Propose replicates cmd and waits until this node has applied it,
// returning the state machine's result. An error means the command may or
// may not have been applied (the caller retries idempotently, or reads).
func (n *Node) Propose(ctx context.Context, cmd []byte) (any, error) {
	p := &proposal{cmd: cmd, result: make(chan any, 1)}
	select {
	case n.proposals <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.stopped:
		return nil, n.stopErr()
	}
	return n.waiting.await(ctx, p, n.stopped, n.stopErr)
}

// Step hands the node a message from another member.
func (n *Node) Step(ctx context.Context, m *pb.Message) error {
	select {
	case n.inbox <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopped:
		return n.stopErr()
	}
}

type report struct {
	to       uint64
	snapshot bool
	status   raft.SnapshotStatus
}

// ReportUnreachable tells raft a message to member id was lost, so it
// probes instead of streaming to it. A Transport calls it.
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.reports <- report{to: id}:
	default: // raft finds out by itself, later
	}
}

// ReportSnapshot tells raft whether a snapshot message to member id was
// delivered; until then raft sends it nothing else. A Transport calls it
// for every MsgSnap it was given.
func (n *Node) ReportSnapshot(id uint64, delivered bool) {
	st := raft.SnapshotFinish
	if !delivered {
		st = raft.SnapshotFailure
	}
	select {
	case n.reports <- report{to: id, snapshot: true, status: st}:
	default: // the follower's next append response ends the snapshot state
	}
}

// Status is a view of the quorum from this node.
type Status struct {
	ID, Leader, Term, Commit, Applied uint64
	Voters                            []uint64
	// Match is, on the leader, each voter's last replicated index.
	Match map[uint64]uint64
	// Observers is each observer fetching from this member: the last
	// index it holds.
	Observers map[uint64]uint64
	// LeaderChanges counts the times this member saw the leader become
	// another member than the last it saw, the first leader included (as
	// etcd's leader_changes_seen_total); losing the leader and finding
	// the same one again counts nothing.
	LeaderChanges uint64
}

// Status reports the node's view of the quorum.
func (n *Node) Status(ctx context.Context) (Status, error) {
	ch := make(chan Status, 1)
	select {
	case n.statusReq <- ch:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	case <-n.stopped:
		return Status{}, n.stopErr()
	}
	select {
	case s := <-ch:
		return s, nil
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

func (n *Node) status() Status {
	st := n.rn.Status()
	s := Status{ID: n.cfg.ID, Leader: st.Lead, Term: st.HardState.GetTerm(), Commit: st.HardState.GetCommit(), Applied: n.applied,
		LeaderChanges: n.changes.count}
	s.Voters = slices.Sorted(maps.Keys(st.Config.Voters.IDs()))
	if len(st.Progress) > 0 {
		s.Match = map[uint64]uint64{}
		for id, pr := range st.Progress {
			s.Match[id] = pr.Match
		}
	}
	s.Observers = n.observerMatch()
	return s
}

// Close stops the run goroutine and closes the WAL.
func (n *Node) Close() error {
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	<-n.stopped
	return n.wal.close()
}

func (n *Node) stopErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.err != nil {
		return n.mu.err
	}
	return ErrStopped
}

func (n *Node) run() {
	err := n.loop()
	n.mu.Lock()
	if err != nil {
		n.log.Error("quorum member stopped", "err", err)
		n.mu.err = fmt.Errorf("%w: %w", ErrStopped, err)
	}
	n.mu.Unlock()
	n.waiting.failAll(ErrStopped)
	close(n.stopped)
}

func (n *Node) loop() error {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.rn.Tick()
		case m := <-n.inbox:
			_ = n.rn.Step(m) // messages from stale terms or unknown peers are refused harmlessly
		case p := <-n.proposals:
			n.propose(p)
		case ch := <-n.statusReq:
			ch <- n.status()
		case r := <-n.reports:
			if r.snapshot {
				n.rn.ReportSnapshot(r.to, r.status)
			} else {
				n.rn.ReportUnreachable(r.to)
			}
		case <-n.done:
			return nil
		}
		if err := n.drain(); err != nil {
			return err
		}
		n.noticeLeader()
		st := n.rn.BasicStatus()
		n.publish(memberView{leader: st.Lead, term: st.HardState.GetTerm(), applied: n.applied})
	}
}

// noticeLeader fails the waiting proposals when the leader changes: one
// forwarded to a leader that is gone would otherwise wait for its
// proposer's whole timeout.
func (n *Node) noticeLeader() {
	lead := n.rn.BasicStatus().Lead
	if lead == n.leader {
		return
	}
	n.changes.see(lead)
	old := n.leader
	n.leader = lead
	if old == 0 {
		return
	}
	n.log.Info("quorum leader changed", "from", old, "to", lead)
	n.waiting.failAll(ErrLeaderChanged)
}

// propose wraps cmd with this node's id and a sequence number, so the
// entry that commits can be matched to its waiter.
func (n *Node) propose(p *proposal) {
	n.nextSeq++
	p.seq = n.nextSeq
	n.waiting.add(p)
	if err := n.rn.Propose(envelope(n.cfg.ID, p.seq, p.cmd)); err != nil {
		n.waiting.forget(p)
		if errors.Is(err, raft.ErrProposalDropped) {
			err = ErrNoLeader
		}
		p.result <- err
	}
}

// drain handles every Ready raft has: persist, send, apply, in that order
// (a follower must persist before it acknowledges).
func (n *Node) drain() error {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if err := n.persist(rd); err != nil {
			return err
		}
		n.cfg.Transport.Send(rd.Messages)
		if err := n.apply(rd.CommittedEntries); err != nil {
			return err
		}
		n.rn.Advance(rd)
		if err := n.maybeSnapshot(); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) persist(rd raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot, rd.HardState); err != nil {
			return err
		}
	}
	if err := n.wal.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return err
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		if err := n.mem.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	}
	if err := n.mem.Append(rd.Entries); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return nil
}

// installSnapshot takes a snapshot the leader sent: durable first, then
// the state machine.
func (n *Node) installSnapshot(snap *pb.Snapshot, hs *pb.HardState) error {
	if hs == nil || raft.IsEmptyHardState(hs) {
		cur, _, _ := n.mem.InitialState()
		hs = cur
	}
	if err := n.wal.saveSnapshot(snap, hs, nil); err != nil {
		return err
	}
	if err := n.mem.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	if err := n.cfg.StateMachine.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("quorum: restoring snapshot from leader: %w", err)
	}
	n.applied = snap.GetMetadata().GetIndex()
	n.snapIndex, n.sinceSnapshot = n.applied, 0
	n.conf = snap.GetMetadata().GetConfState()
	n.log.Info("quorum snapshot installed", "index", n.applied, "term", snap.GetMetadata().GetTerm())
	return nil
}

func (n *Node) apply(entries []*pb.Entry) error {
	for _, e := range entries {
		if e.GetIndex() <= n.applied {
			continue
		}
		switch e.GetType() {
		case pb.EntryNormal:
			n.sinceSnapshot += int64(applyEntry(n.cfg.StateMachine, n.cfg.ID, n.waiting, e))
		case pb.EntryConfChange:
			cc := &pb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("quorum: entry %d: %w", e.GetIndex(), err)
			}
			n.conf = n.rn.ApplyConfChange(cc)
		case pb.EntryConfChangeV2:
			cc := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("quorum: entry %d: %w", e.GetIndex(), err)
			}
			n.conf = n.rn.ApplyConfChange(cc)
		}
		n.applied = e.GetIndex()
	}
	return nil
}

// maybeSnapshot snapshots the state machine once enough was applied, and
// drops the WAL and in-memory entries it covers.
func (n *Node) maybeSnapshot() error {
	if n.sinceSnapshot < n.cfg.SnapshotBytes || n.applied <= n.snapIndex {
		return nil
	}
	data, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("quorum: snapshotting: %w", err)
	}
	snap, err := n.mem.CreateSnapshot(n.applied, n.conf, data)
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	last, _ := n.mem.LastIndex()
	after, err := n.mem.Entries(n.applied+1, last+1, 1<<62)
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	hs, _, _ := n.mem.InitialState()
	if err := n.wal.saveSnapshot(snap, hs, after); err != nil {
		return err
	}
	first, _ := n.mem.FirstIndex()
	if n.applied > n.cfg.CatchUpEntries && n.applied-n.cfg.CatchUpEntries >= first {
		if err := n.mem.Compact(n.applied - n.cfg.CatchUpEntries); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	}
	n.snapIndex, n.sinceSnapshot = n.applied, 0
	return nil
}

// raftLogger sends etcd raft's log lines to slog.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug("raft", "text", fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug("raft", "text", fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug("raft", "text", fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug("raft", "text", fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn("raft", "text", fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn("raft", "text", fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error("raft", "text", fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error("raft", "text", fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
