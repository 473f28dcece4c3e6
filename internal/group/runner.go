package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// Runner states, read by Handle to answer without queueing.
const (
	stateLoading int32 = iota
	stateReady
	stateUnavailable // no log, or loading it failed: retried
	stateStopped     // resigned or closed: the coordinator is elsewhere
)

const (
	maxDrain    = 64              // requests stepped per log append
	reloadEvery = 5 * time.Second // retry of a failed load
)

// call is one request waiting for its coordinator's answer.
type call struct {
	id     replyID
	req    kmsg.Request
	client ClientInfo
	done   chan kmsg.Response // capacity 1: the runner never blocks on it
}

// input is what Handle sends a runner: a call, the cancellation of one
// whose client went away, or the end of a transaction (CompleteTxn).
type input struct {
	call   *call
	cancel replyID
	txnEnd *txnEnd
}

type txnEnd struct {
	producerID int64
	commit     bool
}

// runner owns one partition's coordinator core: it feeds it requests and
// ticks, appends the records the core asks for and only then releases the
// replies that depend on them.
type runner struct {
	m         *Manager
	partition int32
	epoch     int32 // the leader epoch it was elected at
	in        chan input
	state     atomic.Int32
	firstLoad chan struct{} // closed after the first load attempt

	ctx    context.Context // canceled on resignation or Close
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	// Owned by the run goroutine.
	core    *coordinator
	pending map[replyID]*call
}

func newRunner(m *Manager, p, epoch int32) *runner {
	r := &runner{m: m, partition: p, epoch: epoch, in: make(chan input),
		firstLoad: make(chan struct{}), done: make(chan struct{}), pending: make(map[replyID]*call)}
	r.ctx, r.cancel = context.WithCancel(m.ctx)
	return r
}

// do sends req to the runner and waits for its answer, or for ctx to end
// (the parked reply is then dropped).
func (r *runner) do(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r.state.Load() {
	case stateLoading:
		return errorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	case stateUnavailable:
		return errorResponse(req, kerr.CoordinatorNotAvailable.Code)
	case stateStopped:
		return notCoordinator(req)
	}
	c := &call{id: replyID(r.m.nextID.Add(1)), req: req, client: clientFrom(ctx), done: make(chan kmsg.Response, 1)}
	select {
	case r.in <- input{call: c}:
	case <-ctx.Done():
		return notCoordinator(req)
	case <-r.ctx.Done():
		return notCoordinator(req)
	}
	select {
	case resp := <-c.done:
		return resp
	case <-ctx.Done():
	case <-r.ctx.Done():
	}
	select {
	case r.in <- input{cancel: c.id}:
	case <-r.ctx.Done():
	}
	// The runner may have answered meanwhile; either way it no longer
	// holds the call.
	select {
	case resp := <-c.done:
		return resp
	default:
		return notCoordinator(req)
	}
}

func (r *runner) run() {
	defer r.m.wg.Done()
	defer close(r.done)
	defer r.shutdown()
	r.load()
	close(r.firstLoad)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.resetTimer(timer)
		select {
		case <-r.ctx.Done():
			return
		case in := <-r.in:
			r.step(in)
			r.drain()
			r.flush()
		case <-timer.C:
			if r.core == nil {
				r.load()
				continue
			}
			r.core.tick(r.m.now())
			r.flush()
		}
	}
}

// resetTimer arms timer for the core's next deadline, or the load retry.
func (r *runner) resetTimer(t *time.Timer) {
	d := reloadEvery
	if r.core != nil {
		next, ok := r.core.deadline()
		if !ok {
			next = r.m.now().Add(time.Hour)
		}
		d = max(next.Sub(r.m.now()), 0)
	}
	t.Reset(d)
}

// drain steps the requests already queued, so one append covers them.
func (r *runner) drain() {
	for range maxDrain {
		select {
		case in := <-r.in:
			r.step(in)
		default:
			return
		}
	}
}

func (r *runner) step(in input) {
	now := r.m.now()
	if in.txnEnd != nil {
		if r.core != nil {
			r.core.completeTxn(now, in.txnEnd.producerID, in.txnEnd.commit)
		}
		return
	}
	if in.call == nil {
		if _, ok := r.pending[in.cancel]; ok {
			delete(r.pending, in.cancel)
			if r.core != nil {
				r.core.cancel(now, in.cancel)
			}
		}
		return
	}
	if r.core == nil {
		in.call.done <- errorResponse(in.call.req, kerr.CoordinatorNotAvailable.Code)
		return
	}
	r.pending[in.call.id] = in.call
	r.core.handle(now, in.call.id, in.call.client, in.call.req)
}

// flush persists the core's records, then releases its replies. A failed
// append leaves memory ahead of the log, so the core is rebuilt from the
// log and every waiting client is sent to find the coordinator again.
func (r *runner) flush() {
	if r.core == nil {
		return
	}
	out := r.core.ready()
	if len(out.records) > 0 {
		if err := r.append(out.records); err != nil {
			r.m.log.Error("group coordinator append failed; reloading", "partition", r.partition, "err", err)
			r.failAll()
			r.load()
			return
		}
	}
	for _, rep := range out.replies {
		if c, ok := r.pending[rep.id]; ok {
			delete(r.pending, rep.id)
			c.done <- rep.resp
		}
	}
}

// append writes recs durably, in batches no larger than the log accepts;
// consecutive records of one producer's transaction share a
// transactional batch.
func (r *runner) append(recs []logRecord) error {
	l := r.m.cfg.Log(r.partition)
	if l == nil {
		return fmt.Errorf("group: partition %d has no log", r.partition)
	}
	var data []byte
	limit := int(l.Config().MaxMessageBytes) - record.HeaderSize
	ts := r.m.now().UnixMilli()
	for len(recs) > 0 {
		first := recs[0]
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+recordSize(recs[n].Record) <= limit) &&
			recs[n].producerID == first.producerID && recs[n].producerEpoch == first.producerEpoch {
			size += recordSize(recs[n].Record)
			n++
		}
		batch := make([]record.Record, n)
		for i := range n {
			batch[i] = recs[i].Record
		}
		if first.producerID >= 0 {
			data = append(data, record.BuildTransactional(ts, batch, first.producerID, first.producerEpoch)...)
		} else {
			data = append(data, record.Build(ts, batch)...)
		}
		recs = recs[n:]
	}
	// acks=all: replies wait until the records are committed.
	_, err := l.Append(r.ctx, data, replica.AppendOptions{Acks: -1, Storage: storage.AppendOptions{Sync: true}})
	return err
}

// recordSize bounds the encoded size of rec in a batch.
func recordSize(rec record.Record) int { return len(rec.Key) + len(rec.Value) + 32 }

// failAll answers every waiting call with NOT_COORDINATOR.
func (r *runner) failAll() {
	for id, c := range r.pending {
		c.done <- notCoordinator(c.req)
		delete(r.pending, id)
	}
}

func (r *runner) shutdown() {
	r.state.Store(stateStopped)
	r.failAll()
}

// load rebuilds the core from the partition log.
func (r *runner) load() {
	r.core = nil
	r.state.Store(stateLoading)
	l := r.m.cfg.Log(r.partition)
	if l == nil {
		r.state.Store(stateUnavailable)
		return
	}
	core := newCoordinator(coreConfig{settings: r.m.settings, partitionExists: r.m.cfg.PartitionExists,
		topicName: r.m.cfg.TopicName, topicID: r.m.cfg.TopicID, topics: r.m.cfg.Topics,
		groupConfig: r.m.cfg.GroupConfig, newUUID: randomUUID, log: r.m.log})
	if err := replayLog(r.ctx, l, core); err != nil {
		r.m.log.Error("group coordinator load failed", "partition", r.partition, "err", err)
		r.state.Store(stateUnavailable)
		return
	}
	core.loaded(r.m.now())
	r.core = core
	r.state.Store(stateReady)
}

// randomUUID is the UUID half of generated member ids.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
