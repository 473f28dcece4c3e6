package quorum

import (
	"context"
	"encoding/binary"
	"sync"

	pb "go.etcd.io/raft/v3/raftpb"
)

type proposal struct {
	seq    uint64
	cmd    []byte
	result chan any // gets the Apply result, or an error
}

// waiters are a member's proposals waiting for their commands to be
// applied, by sequence number. A command carries its proposer's id and
// sequence number (envelope), so the member that proposed it, voter or
// observer, answers it when it applies the entry.
type waiters struct {
	mu sync.Mutex
	m  map[uint64]*proposal
}

func newWaiters() *waiters { return &waiters{m: map[uint64]*proposal{}} }

func (w *waiters) add(p *proposal) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[p.seq] = p
}

func (w *waiters) forget(p *proposal) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[p.seq] == p {
		delete(w.m, p.seq)
	}
}

// failAll answers every waiting proposal with err.
func (w *waiters) failAll(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for seq, p := range w.m {
		p.result <- err
		delete(w.m, seq)
	}
}

func (w *waiters) answer(seq uint64, res any) {
	w.mu.Lock()
	p := w.m[seq]
	delete(w.m, seq)
	w.mu.Unlock()
	if p != nil {
		p.result <- res
	}
}

// await waits for p's result, its context or the member's stop.
func (w *waiters) await(ctx context.Context, p *proposal, stopped <-chan struct{}, stopErr func() error) (any, error) {
	select {
	case r := <-p.result:
		if err, ok := r.(error); ok {
			return nil, err
		}
		return r, nil
	case <-ctx.Done():
		w.forget(p)
		return nil, ctx.Err()
	case <-stopped:
		return nil, stopErr()
	}
}

// envelope wraps cmd with its proposer's id and sequence number.
func envelope(from, seq uint64, cmd []byte) []byte {
	data := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, from), seq)
	return append(data, cmd...)
}

// applyEntry applies one committed entry's command to sm (an empty entry
// is a new leader's no-op; configuration changes are the caller's) and
// answers its proposer if that is self. It returns the command's size.
func applyEntry(sm StateMachine, self uint64, w *waiters, e *pb.Entry) int {
	data := e.GetData()
	if e.GetType() != pb.EntryType_EntryNormal || len(data) < 16 {
		return 0
	}
	from, seq := binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:])
	res := sm.Apply(e.GetIndex(), data[16:])
	if from == self {
		w.answer(seq, res)
	}
	return len(data)
}
