package quorum

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// ObserverConfig configures an Observer.
type ObserverConfig struct {
	ID        uint64
	ClusterID string
	Voters    map[uint64]string // voter id → quorum listener
	Dir       string
	Logger    *slog.Logger
	Security  Security // of its connections to the voters (security.go)

	StateMachine StateMachine
	// SnapshotBytes takes a local snapshot once this many bytes of
	// commands were applied since the last one (default 20 MiB).
	SnapshotBytes int64
}

// Observer holds the metadata without being a voter (observe.go): it
// fetches committed entries from the voters, keeps them in its own WAL so
// a restart replays them, and applies them to its state machine in log
// order. It can propose, through the voter it is connected to.
type Observer struct {
	cfg ObserverConfig
	log *slog.Logger
	wal *wal

	// Owned by the run goroutine.
	applied, appliedTerm uint64
	snapIndex            uint64
	sinceSnapshot        int64
	conf                 *pb.ConfState

	waiting *waiters
	done    chan struct{}
	stopped chan struct{}

	mu struct {
		sync.Mutex
		nextSeq uint64
		conn    net.Conn // the voter being followed, nil between voters
		voter   uint64
		writeMu *sync.Mutex // serializes frames on conn
		view    memberView  // the voter's last answer, applied: ours
		commit  uint64      // the voter's applied index
		changes leaderChanges
		err     error
	}
}

// StartObserver opens the observer's WAL in cfg.Dir, replays it into the
// state machine and starts following the voters. Close stops it.
func StartObserver(cfg ObserverConfig) (*Observer, error) {
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = 20 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.ID == 0:
		return nil, errors.New("quorum: observer id must be positive")
	case cfg.Voters[cfg.ID] != "":
		return nil, fmt.Errorf("quorum: node %d is a voter, not an observer", cfg.ID)
	case len(cfg.Voters) == 0 || cfg.StateMachine == nil || cfg.Dir == "":
		return nil, errors.New("quorum: an observer needs voters, a state machine and a directory")
	}
	w, st, err := openWAL(cfg.Dir)
	if err != nil {
		return nil, err
	}
	o := &Observer{cfg: cfg, log: cfg.Logger, wal: w, waiting: newWaiters(), done: make(chan struct{}), stopped: make(chan struct{})}
	o.mu.nextSeq = uint64(time.Now().UnixNano()) // a restart's proposals never match an earlier run's
	if err := o.replay(st); err != nil {
		w.close()
		return nil, err
	}
	go o.run()
	return o, nil
}

// replay restores the snapshot and applies the entries the WAL holds: an
// observer writes only committed entries.
func (o *Observer) replay(st walState) error {
	if st.snapshot != nil {
		if err := o.cfg.StateMachine.Restore(st.snapshot.GetData()); err != nil {
			return fmt.Errorf("quorum: restoring snapshot: %w", err)
		}
		md := st.snapshot.GetMetadata()
		o.applied, o.appliedTerm, o.snapIndex, o.conf = md.GetIndex(), md.GetTerm(), md.GetIndex(), md.GetConfState()
	}
	for _, e := range st.entries {
		if e.GetIndex() > o.applied {
			o.apply(e)
		}
	}
	o.sinceSnapshot = 0
	return nil
}

// Propose sends cmd to the quorum through the voter this observer
// follows and waits until it has applied it, returning the state
// machine's result. An error means the command may or may not have been
// applied.
func (o *Observer) Propose(ctx context.Context, cmd []byte) (any, error) {
	o.mu.Lock()
	conn, writeMu, leader := o.mu.conn, o.mu.writeMu, o.mu.view.leader
	if conn == nil || leader == 0 {
		o.mu.Unlock()
		return nil, ErrNoLeader
	}
	o.mu.nextSeq++
	p := &proposal{seq: o.mu.nextSeq, cmd: cmd, result: make(chan any, 1)}
	o.mu.Unlock()
	o.waiting.add(p)

	m := &pb.Message{Type: pb.MessageType_MsgProp.Enum(), From: &o.cfg.ID,
		Entries: []*pb.Entry{{Type: pb.EntryType_EntryNormal.Enum(), Data: envelope(o.cfg.ID, p.seq, cmd)}}}
	if err := writeFrame(conn, writeMu, m); err != nil {
		o.waiting.forget(p)
		return nil, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	return o.waiting.await(ctx, p, o.stopped, o.stopErr)
}

// Status reports the quorum as the followed voter last described it;
// Commit is that voter's applied index and Applied this observer's.
func (o *Observer) Status(ctx context.Context) (Status, error) {
	select {
	case <-o.stopped:
		return Status{}, o.stopErr()
	default:
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return Status{ID: o.cfg.ID, Leader: o.mu.view.leader, Term: o.mu.view.term, Commit: o.mu.commit,
		Applied: o.mu.view.applied, Voters: slices.Sorted(maps.Keys(o.cfg.Voters)),
		LeaderChanges: o.mu.changes.count}, nil
}

// Close stops following and closes the WAL.
func (o *Observer) Close() error {
	select {
	case <-o.done:
	default:
		close(o.done)
	}
	o.mu.Lock()
	if o.mu.conn != nil {
		o.mu.conn.Close()
	}
	o.mu.Unlock()
	<-o.stopped
	return o.wal.close()
}

func (o *Observer) stopErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.mu.err != nil {
		return o.mu.err
	}
	return ErrStopped
}

func (o *Observer) closing() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

func (o *Observer) run() {
	err := o.follow()
	o.mu.Lock()
	if err != nil {
		o.log.Error("quorum observer stopped", "err", err)
		o.mu.err = fmt.Errorf("%w: %w", ErrStopped, err)
	}
	o.mu.Unlock()
	o.waiting.failAll(ErrStopped)
	close(o.stopped)
}

// follow fetches from one voter after another: the leader when one is
// known, else the next voter in turn. Only a local failure (the WAL)
// ends it with an error.
func (o *Observer) follow() error {
	voters := slices.Sorted(maps.Keys(o.cfg.Voters))
	next, backoff := 0, 50*time.Millisecond
	for !o.closing() {
		target := voters[next%len(voters)]
		o.mu.Lock()
		if l := o.mu.view.leader; l != 0 && o.cfg.Voters[l] != "" {
			target = l
		}
		o.mu.Unlock()
		next++
		err := o.fetchFrom(target)
		var local *localError
		if errors.As(err, &local) {
			return local.err
		}
		if err != nil && !o.closing() {
			o.log.Debug("quorum observer left a voter", "voter", target, "err", err)
			o.setLeader(0)
			select {
			case <-time.After(backoff):
			case <-o.done:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
	return nil
}

// localError is a failure of the observer itself, not of a voter.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }

// fetchFrom follows voter until it fails, names another leader, or loses
// its own for longer than an election.
func (o *Observer) fetchFrom(voter uint64) error {
	c, err := o.cfg.Security.dial(context.Background(), o.cfg.Voters[voter])
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(o.cfg.Security.hello(observerMagic, o.cfg.ID, voter, o.cfg.ClusterID)); err != nil {
		return err
	}
	writeMu := &sync.Mutex{}
	o.mu.Lock()
	if o.closing() {
		o.mu.Unlock()
		return nil
	}
	o.mu.conn, o.mu.voter, o.mu.writeMu = c, voter, writeMu
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.mu.conn, o.mu.voter, o.mu.writeMu = nil, 0, nil
		o.mu.Unlock()
	}()

	r := bufio.NewReaderSize(c, 64<<10)
	leaderless := time.Time{}
	for !o.closing() {
		fetch := &pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: &o.cfg.ID, To: &voter, Index: new(o.applied + 1)}
		if err := writeFrame(c, writeMu, fetch); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(fetchWait + 10*time.Second))
		m, err := readFrame(r)
		if err != nil {
			return err
		}
		if m.GetType() != pb.MessageType_MsgApp || m.GetFrom() != voter {
			return fmt.Errorf("voter %d answered a fetch with a %v from %d", voter, m.GetType(), m.GetFrom())
		}
		if err := o.take(m); err != nil {
			return &localError{err}
		}
		o.noteAnswer(m)
		switch lead := m.GetVote(); {
		case lead == 0 && leaderless.IsZero():
			leaderless = time.Now()
		case lead == 0 && time.Since(leaderless) > 2*time.Second:
			return fmt.Errorf("voter %d has had no leader for %v", voter, time.Since(leaderless).Round(time.Millisecond))
		case lead != 0:
			leaderless = time.Time{}
			if lead != voter && o.cfg.Voters[lead] != "" {
				return nil // follow the leader itself
			}
		}
	}
	return nil
}

func writeFrame(c net.Conn, mu *sync.Mutex, m *pb.Message) error {
	b, err := appendFrame(nil, m)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write(b)
	return err
}

// take makes an answer's snapshot and entries durable in the WAL and
// applies them. Entries not following the applied index are ignored (an
// answer to an older fetch cannot arrive, but a voter's log is not
// trusted blindly).
func (o *Observer) take(m *pb.Message) error {
	if snap := m.GetSnapshot(); snap != nil && snap.GetMetadata().GetIndex() > o.applied {
		md := snap.GetMetadata()
		hs := &pb.HardState{Term: new(md.GetTerm()), Commit: new(md.GetIndex())}
		if err := o.wal.saveSnapshot(snap, hs, nil); err != nil {
			return err
		}
		if err := o.cfg.StateMachine.Restore(snap.GetData()); err != nil {
			return fmt.Errorf("quorum: restoring snapshot from voter %d: %w", m.GetFrom(), err)
		}
		o.applied, o.appliedTerm, o.snapIndex, o.sinceSnapshot, o.conf = md.GetIndex(), md.GetTerm(), md.GetIndex(), 0, md.GetConfState()
		o.log.Info("quorum observer installed a snapshot", "index", o.applied, "voter", m.GetFrom())
		o.waiting.failAll(ErrOutcomeUnknown)
	}
	var ents []*pb.Entry
	for _, e := range m.GetEntries() {
		if e.GetIndex() == o.applied+1+uint64(len(ents)) {
			ents = append(ents, e)
		}
	}
	if len(ents) == 0 {
		return nil
	}
	last := ents[len(ents)-1]
	// Not synced: an entry lost with the page cache is fetched again.
	if err := o.wal.save(&pb.HardState{Term: new(last.GetTerm()), Commit: new(last.GetIndex())}, ents, false); err != nil {
		return err
	}
	for _, e := range ents {
		o.apply(e)
	}
	return o.maybeSnapshot()
}

// apply applies one committed entry: a command (answering its proposer
// if that is this observer) or a configuration change (recorded only).
func (o *Observer) apply(e *pb.Entry) {
	o.applied, o.appliedTerm = e.GetIndex(), e.GetTerm()
	o.sinceSnapshot += int64(applyEntry(o.cfg.StateMachine, o.cfg.ID, o.waiting, e))
}

// noteAnswer records what the voter said of the quorum. A new term fails
// the waiting proposals, as a voter's leader change does: one lost with
// the old leader would otherwise wait out its proposer's timeout.
func (o *Observer) noteAnswer(m *pb.Message) {
	o.mu.Lock()
	newTerm := o.mu.view.term != 0 && m.GetTerm() > o.mu.view.term
	if m.GetTerm() >= o.mu.view.term {
		o.mu.view.term, o.mu.view.leader = m.GetTerm(), m.GetVote()
		o.mu.changes.see(m.GetVote())
	}
	o.mu.view.applied, o.mu.commit = o.applied, m.GetCommit()
	o.mu.Unlock()
	if newTerm {
		o.waiting.failAll(ErrLeaderChanged)
	}
}

func (o *Observer) setLeader(id uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mu.view.leader = id
}

// maybeSnapshot snapshots the state machine once enough was applied and
// starts a new WAL file, bounding the observer's log as a voter's.
func (o *Observer) maybeSnapshot() error {
	if o.sinceSnapshot < o.cfg.SnapshotBytes || o.applied <= o.snapIndex {
		return nil
	}
	data, err := o.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("quorum: snapshotting: %w", err)
	}
	snap := &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(o.applied), Term: new(o.appliedTerm), ConfState: o.conf}}
	if err := o.wal.saveSnapshot(snap, &pb.HardState{Term: new(o.appliedTerm), Commit: new(o.applied)}, nil); err != nil {
		return err
	}
	o.snapIndex, o.sinceSnapshot = o.applied, 0
	return nil
}
