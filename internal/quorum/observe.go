package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Observers are nodes outside the voters (brokers that are not in
// --voters): they hold the metadata but take no part in elections or
// commits, like KRaft's observers. An observer dials a voter with the
// observer hello and, on that one connection, asks for what the voter has
// applied after its own last index; the voter holds the question until it
// has something (a long poll) and answers with committed entries, or its
// snapshot when the observer is too far behind. Committed entries are
// final, so any voter can serve them; observers still prefer the leader,
// whose answers are the freshest. An observer proposes by sending the
// command to the voter, which steps it into raft as its own proposal
// (forwarded to the leader if it is a follower); the observer learns the
// result by applying the committed entry itself, as a voter does.
//
// Frames reuse raftpb.Message as their envelope:
//
//	fetch   observer → voter  MsgHeartbeat, Index = the next index wanted
//	propose observer → voter  MsgProp, one or more EntryNormal entries
//	answer  voter → observer  MsgApp, Term, Vote = the voter's leader,
//	                          Commit = its applied index, Entries and/or
//	                          Snapshot
const (
	observerMagic = "EDDYOBSV"
	// fetchWait is how long a voter holds a fetch it has nothing for; the
	// empty answer tells the observer the voter and its leader are alive.
	fetchWait = 500 * time.Millisecond
	// observerBatchBytes bounds the entries of one answer.
	observerBatchBytes = 1 << 20
	// observerForgotten drops an observer from Status once it has not
	// fetched for this long.
	observerForgotten = 30 * time.Second
)

type observerProgress struct {
	match uint64
	at    time.Time
}

// publish makes v what observers' fetches see, waking those that wait.
func (n *Node) publish(v memberView) {
	n.progress.Lock()
	defer n.progress.Unlock()
	if v == n.progress.view {
		return
	}
	n.progress.view = v
	close(n.progress.advanced)
	n.progress.advanced = make(chan struct{})
}

func (n *Node) noteObserver(id, match uint64) {
	n.progress.Lock()
	defer n.progress.Unlock()
	n.progress.observers[id] = observerProgress{match: match, at: time.Now()}
}

// observerMatch is the last index each recently seen observer holds.
func (n *Node) observerMatch() map[uint64]uint64 {
	n.progress.Lock()
	defer n.progress.Unlock()
	if len(n.progress.observers) == 0 {
		return nil
	}
	out := map[uint64]uint64{}
	for id, p := range n.progress.observers {
		if time.Since(p.at) > observerForgotten {
			delete(n.progress.observers, id)
			continue
		}
		out[id] = p.match
	}
	return out
}

// committed answers an observer's fetch of the entries from index from:
// what this member has applied from there (at most observerBatchBytes,
// at least one entry), or its snapshot when from was compacted away. It
// waits up to wait for from to be applied; nil means the member stopped
// or ctx ended.
func (n *Node) committed(ctx context.Context, observer, from uint64, wait time.Duration) *pb.Message {
	n.noteObserver(observer, from-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var v memberView
	for {
		n.progress.Lock()
		v, advanced := n.progress.view, n.progress.advanced
		n.progress.Unlock()
		if v.applied >= from {
			break
		}
		select {
		case <-advanced:
		case <-timer.C:
			return answer(v)
		case <-ctx.Done():
			return nil
		case <-n.stopped:
			return nil
		}
	}
	n.progress.Lock()
	v = n.progress.view
	n.progress.Unlock()
	m := answer(v)
	last, _ := n.mem.LastIndex()
	ents, err := n.mem.Entries(from, min(v.applied, last)+1, observerBatchBytes)
	switch {
	case err == nil:
		m.Entries = ents
	case errors.Is(err, raft.ErrCompacted):
		snap, err := n.mem.Snapshot()
		if err != nil {
			return answer(v)
		}
		m.Snapshot = snap
	default:
		return answer(v) // the observer asks again
	}
	return m
}

func answer(v memberView) *pb.Message {
	return &pb.Message{Type: pb.MessageType_MsgApp.Enum(), Term: &v.term, Vote: &v.leader, Commit: &v.applied}
}

// serveObserver answers observer from on c: a reader takes its fetches
// and proposals, and one goroutine answers the fetches in turn, so a
// held fetch does not hold up a proposal.
func (t *TCPTransport) serveObserver(c net.Conn, r *bufio.Reader, from uint64) error {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	fetches := make(chan uint64, 1)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		t.answerFetches(ctx, c, from, fetches)
	}()
	err := t.readObserver(ctx, r, from, fetches)
	cancel()
	c.Close()
	<-answered
	return err
}

func (t *TCPTransport) readObserver(ctx context.Context, r *bufio.Reader, from uint64, fetches chan<- uint64) error {
	for {
		m, err := readFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("from observer %d: %w", from, err)
		}
		if m.GetFrom() != from {
			return fmt.Errorf("observer %d sent a message from %d", from, m.GetFrom())
		}
		n := t.node()
		switch {
		case n == nil:
		case m.GetType() == pb.MessageType_MsgHeartbeat:
			select {
			case fetches <- m.GetIndex():
			case <-ctx.Done():
				return nil
			}
		case m.GetType() == pb.MessageType_MsgProp:
			prop, err := observerProposal(from, m)
			if err != nil {
				return err
			}
			if err := n.Step(ctx, prop); err != nil {
				return nil // the node stopped
			}
		default:
			return fmt.Errorf("observer %d sent a %v", from, m.GetType())
		}
	}
}

// observerProposal checks an observer's proposal and makes it this
// member's own (raft forwards a follower's proposals to the leader). Only
// commands pass, each carrying the observer as its proposer: a
// configuration change from outside the voters is refused.
func observerProposal(from uint64, m *pb.Message) (*pb.Message, error) {
	if len(m.GetEntries()) == 0 {
		return nil, fmt.Errorf("observer %d proposed nothing", from)
	}
	ents := make([]*pb.Entry, 0, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		data := e.GetData()
		if e.GetType() != pb.EntryType_EntryNormal || len(data) < 16 || binary.BigEndian.Uint64(data) != from {
			return nil, fmt.Errorf("observer %d proposed an entry that is not its own command", from)
		}
		ents = append(ents, &pb.Entry{Type: pb.EntryType_EntryNormal.Enum(), Data: data})
	}
	return &pb.Message{Type: pb.MessageType_MsgProp.Enum(), Entries: ents}, nil
}

func (t *TCPTransport) answerFetches(ctx context.Context, c net.Conn, observer uint64, fetches <-chan uint64) {
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	for {
		var next uint64
		select {
		case next = <-fetches:
		case <-ctx.Done():
			return
		}
		n := t.node()
		if n == nil {
			return
		}
		m := n.committed(ctx, observer, next, fetchWait)
		if m == nil {
			return
		}
		m.From, m.To = &t.cfg.ID, &observer
		var err error
		if buf, err = appendFrame(buf[:0], m); err == nil {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err = w.Write(buf); err == nil {
				err = w.Flush()
			}
		}
		if err != nil {
			t.log.Debug("quorum answer to observer failed", "observer", observer, "err", err)
			c.Close()
			return
		}
	}
}
