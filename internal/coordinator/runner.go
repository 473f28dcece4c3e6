package coordinator

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// Runner states, read by Do to answer without queueing.
const (
	stateLoading int32 = iota
	stateReady
	stateUnavailable // no log, or loading it failed: retried
	stateStopped     // resigned or closed: the coordinator is elsewhere
)

const (
	maxDrain    = 64              // inputs stepped per log append
	reloadEvery = 5 * time.Second // retry of a failed load
)

// Call is one request waiting for its coordinator's answer.
type Call struct {
	ID     uint64
	Req    kmsg.Request
	Client any                // what the caller passed to Do
	done   chan kmsg.Response // capacity 1: the runner never blocks on it
}

// Reply answers the call of ID; it is released once the records of the
// same Output are durable.
type Reply struct {
	ID   uint64
	Resp kmsg.Response
}

// Record is a record to append; consecutive records of one producer
// (ProducerID >= 0) share a transactional batch.
type Record struct {
	record.Record
	ProducerID    int64
	ProducerEpoch int16
}

// Output is what a core asks for after a step.
type Output struct {
	Records []Record
	Replies []Reply
}

// Core is one loaded partition coordinator, driven by its runner's
// goroutine only.
type Core interface {
	// Handle steps a call; its reply comes out of a later Ready.
	Handle(now time.Time, c *Call)
	// Cancel drops the call of id, whose caller gave up.
	Cancel(now time.Time, id uint64)
	// Event steps an input sent with Post.
	Event(now time.Time, ev any)
	Tick(now time.Time)
	// Deadline is when Tick is next due, false if never.
	Deadline() (time.Time, bool)
	Ready() Output
	// Flushed follows a Ready whose records are durable and replies sent.
	Flushed()
	// Close drops the core: the runner reloads or stops.
	Close()
}

// Loader builds a runner's cores.
type Loader interface {
	// Load builds a core from l (see Replay), loaded as of now.
	Load(ctx context.Context, l *replica.Partition, now time.Time) (Core, error)
	// Stop follows the runner's context ending: it waits for whatever
	// the loader's cores started.
	Stop()
}

// input is what a runner is sent: a call, the cancellation of one, or an
// event.
type input struct {
	call   *Call
	cancel uint64
	event  any
}

// Runner owns one partition's core: it feeds it calls, events and ticks,
// appends the records the core asks for and only then releases the
// replies that depend on them.
type Runner struct {
	g         *Registry
	partition int32
	epoch     int32 // the leader epoch it was elected at
	loader    Loader
	in        chan input
	state     atomic.Int32
	nextID    atomic.Uint64
	firstLoad chan struct{} // closed after the first load attempt

	ctx    context.Context // canceled on resignation or Close
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	// Owned by the run goroutine.
	core    Core
	pending map[uint64]*Call
	loading bool // load is flushing the new core's first output
}

func newRunner(g *Registry, p, epoch int32) *Runner {
	r := &Runner{g: g, partition: p, epoch: epoch, in: make(chan input),
		firstLoad: make(chan struct{}), done: make(chan struct{}), pending: make(map[uint64]*Call)}
	r.ctx, r.cancel = context.WithCancel(g.ctx)
	r.loader = g.cfg.NewLoader(r)
	return r
}

// Partition is the partition r coordinates.
func (r *Runner) Partition() int32 { return r.partition }

// Epoch is the leader epoch r was elected at.
func (r *Runner) Epoch() int32 { return r.epoch }

// Context ends when r stops.
func (r *Runner) Context() context.Context { return r.ctx }

func (r *Runner) errorResponse(req kmsg.Request, code int16) kmsg.Response {
	return r.g.cfg.ErrorResponse(req, code)
}

// Do sends req to the runner and waits for its answer, or for ctx to end.
func (r *Runner) Do(ctx context.Context, req kmsg.Request, client any) kmsg.Response {
	switch r.state.Load() {
	case stateLoading:
		return r.errorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	case stateUnavailable:
		return r.errorResponse(req, kerr.CoordinatorNotAvailable.Code)
	case stateStopped:
		return r.errorResponse(req, kerr.NotCoordinator.Code)
	}
	c := &Call{ID: r.nextID.Add(1), Req: req, Client: client, done: make(chan kmsg.Response, 1)}
	select {
	case r.in <- input{call: c}:
	case <-ctx.Done():
		return r.errorResponse(req, kerr.NotCoordinator.Code)
	case <-r.ctx.Done():
		return r.errorResponse(req, kerr.NotCoordinator.Code)
	}
	if !r.g.cfg.CancelOnGiveUp {
		// The runner answers every call it took, even when it stops
		// (shutdown), so this wait ends.
		select {
		case resp := <-c.done:
			return resp
		case <-ctx.Done():
			return r.errorResponse(req, kerr.NotCoordinator.Code)
		}
	}
	select {
	case resp := <-c.done:
		return resp
	case <-ctx.Done():
	case <-r.ctx.Done():
	}
	select {
	case r.in <- input{cancel: c.ID}:
	case <-r.ctx.Done():
	}
	// The runner may have answered meanwhile; either way it no longer
	// holds the call.
	select {
	case resp := <-c.done:
		return resp
	default:
		return r.errorResponse(req, kerr.NotCoordinator.Code)
	}
}

// Post sends ev to the core and returns once the runner has taken it;
// false if the runner or ctx ended first. A runner without a core drops it.
func (r *Runner) Post(ctx context.Context, ev any) bool {
	select {
	case r.in <- input{event: ev}:
		return true
	case <-r.ctx.Done():
	case <-ctx.Done():
	}
	return false
}

func (r *Runner) run() {
	defer r.g.wg.Done()
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
			r.core.Tick(r.g.cfg.Now())
			r.flush()
		}
	}
}

// resetTimer arms t for the core's next deadline, or the load retry.
func (r *Runner) resetTimer(t *time.Timer) {
	d := reloadEvery
	if r.core != nil {
		now := r.g.cfg.Now()
		next, ok := r.core.Deadline()
		if !ok {
			next = now.Add(time.Hour)
		}
		d = max(next.Sub(now), 0)
	}
	t.Reset(d)
}

// drain steps the inputs already queued, so one append covers them.
func (r *Runner) drain() {
	for range maxDrain {
		select {
		case in := <-r.in:
			r.step(in)
		default:
			return
		}
	}
}

func (r *Runner) step(in input) {
	now := r.g.cfg.Now()
	switch {
	case in.event != nil:
		if r.core != nil {
			r.core.Event(now, in.event)
		}
	case in.call == nil:
		if _, ok := r.pending[in.cancel]; ok {
			delete(r.pending, in.cancel)
			if r.core != nil {
				r.core.Cancel(now, in.cancel)
			}
		}
	case r.core == nil:
		in.call.done <- r.errorResponse(in.call.Req, kerr.CoordinatorNotAvailable.Code)
	default:
		r.pending[in.call.ID] = in.call
		r.core.Handle(now, in.call)
	}
}

// flush persists the core's records, then releases its replies. A failed
// append leaves memory ahead of the log, so the core is rebuilt from the
// log and every waiting client is answered with an error that sends it to
// find the coordinator again.
func (r *Runner) flush() {
	if r.core == nil {
		return
	}
	out := r.core.Ready()
	if len(out.Records) > 0 {
		if err := r.append(out.Records); err != nil {
			r.g.cfg.Logger.Error("coordinator append failed; reloading", "coordinator", r.g.cfg.Name,
				"partition", r.partition, "err", err)
			r.failAll(r.g.cfg.AppendErrorCode(err))
			if r.loading {
				// The load's own records failed: retry the load later
				// rather than at once, and forever.
				r.unload(stateUnavailable)
				return
			}
			r.load()
			return
		}
	}
	for _, rep := range out.Replies {
		if c, ok := r.pending[rep.ID]; ok {
			delete(r.pending, rep.ID)
			c.done <- rep.Resp
		}
	}
	r.core.Flushed()
}

// append writes recs durably (acks=all), in batches no larger than the
// log accepts.
func (r *Runner) append(recs []Record) error {
	l := r.g.cfg.Log(r.partition)
	if l == nil {
		return fmt.Errorf("coordinator: partition %d has no log here", r.partition)
	}
	data := buildBatches(recs, int(l.Config().MaxMessageBytes)-record.HeaderSize, r.g.cfg.Now().UnixMilli())
	_, err := l.Append(r.ctx, data, replica.AppendOptions{Acks: -1, Storage: storage.AppendOptions{Sync: true}})
	return err
}

// buildBatches encodes recs as batches of at most about limit bytes;
// consecutive records of one producer share a transactional batch.
func buildBatches(recs []Record, limit int, ts int64) []byte {
	var data []byte
	for len(recs) > 0 {
		first := recs[0]
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+recordSize(recs[n].Record) <= limit) &&
			recs[n].ProducerID == first.ProducerID && recs[n].ProducerEpoch == first.ProducerEpoch {
			size += recordSize(recs[n].Record)
			n++
		}
		batch := make([]record.Record, n)
		for i := range n {
			batch[i] = recs[i].Record
		}
		if first.ProducerID >= 0 {
			data = append(data, record.BuildTransactional(ts, batch, first.ProducerID, first.ProducerEpoch)...)
		} else {
			data = append(data, record.Build(ts, batch)...)
		}
		recs = recs[n:]
	}
	return data
}

// recordSize bounds the encoded size of rec in a batch.
func recordSize(rec record.Record) int { return len(rec.Key) + len(rec.Value) + 32 }

// failAll answers every waiting call with code.
func (r *Runner) failAll(code int16) {
	for id, c := range r.pending {
		c.done <- r.errorResponse(c.Req, code)
		delete(r.pending, id)
	}
}

// shutdown stops the runner: waiting calls are answered NOT_COORDINATOR,
// and what the loader started is stopped and waited for.
func (r *Runner) shutdown() {
	r.state.Store(stateStopped)
	r.failAll(kerr.NotCoordinator.Code)
	r.cancel()
	r.unload(stateStopped)
	r.loader.Stop()
	// Calls sent while the runner was stopping: Do's sends select on
	// r.ctx too, so any that got through are here.
	for {
		select {
		case in := <-r.in:
			if in.call != nil {
				in.call.done <- r.errorResponse(in.call.Req, kerr.NotCoordinator.Code)
			}
		default:
			return
		}
	}
}

// unload drops the core.
func (r *Runner) unload(state int32) {
	if r.core != nil {
		r.core.Close()
		r.core = nil
	}
	r.state.Store(state)
}

// load rebuilds the core from the partition log, then flushes what the
// loaded core asks for at once.
func (r *Runner) load() {
	r.unload(stateLoading)
	l := r.g.cfg.Log(r.partition)
	if l == nil {
		r.state.Store(stateUnavailable)
		return
	}
	core, err := r.loader.Load(r.ctx, l, r.g.cfg.Now())
	if err != nil {
		r.g.cfg.Logger.Error("coordinator load failed", "coordinator", r.g.cfg.Name, "partition", r.partition, "err", err)
		r.state.Store(stateUnavailable)
		return
	}
	r.core = core
	r.state.Store(stateReady)
	r.loading = true
	r.flush()
	r.loading = false
}
