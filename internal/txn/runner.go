package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// Runner states, read by do to answer without queueing.
const (
	stateLoading int32 = iota
	stateReady
	stateUnavailable // no log, or loading it failed: retried
	stateStopped     // resigned or closed: the coordinator is elsewhere
)

const (
	maxDrain    = 64              // requests stepped per log append
	reloadEvery = 5 * time.Second // retry of a failed load
	replayChunk = 1 << 20         // read size of a replay
)

// call is one request waiting for its coordinator's answer.
type call struct {
	req  kmsg.Request
	done chan kmsg.Response // capacity 1: the runner never blocks on it
}

// written reports markers a sender wrote, for the core of generation gen.
type written struct {
	gen        uint64
	m          *Markers
	partitions []TopicPartition
}

// input is what a runner is sent: a call, or markers written.
type input struct {
	call    *call
	written *written
}

// reply is a response held until the records of its step are durable.
type reply struct {
	call *call
	resp kmsg.Response
}

// runner owns one __transaction_state partition's coordinator core: it
// feeds it requests, ticks and marker results, appends the records the
// core asks for and only then releases the replies that depend on them
// and starts writing the markers.
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

	// senders are the marker writers of this runner, all generations; run
	// waits for them before returning.
	senders sync.WaitGroup

	// Owned by the run goroutine.
	core      *Coordinator
	gen       uint64          // generation of core: bumped at every load
	genCtx    context.Context // ends when gen's marker writers must stop
	genCancel context.CancelFunc
	pending   []reply
	loading   bool // load is flushing the new core's first output
}

func newRunner(m *Manager, p, epoch int32) *runner {
	r := &runner{m: m, partition: p, epoch: epoch, in: make(chan input),
		firstLoad: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(m.ctx)
	return r
}

// do sends req to the runner and waits for its answer, or for ctx to end.
func (r *runner) do(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r.state.Load() {
	case stateLoading:
		return ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	case stateUnavailable:
		return ErrorResponse(req, kerr.CoordinatorNotAvailable.Code)
	case stateStopped:
		return ErrorResponse(req, kerr.NotCoordinator.Code)
	}
	c := &call{req: req, done: make(chan kmsg.Response, 1)}
	select {
	case r.in <- input{call: c}:
	case <-ctx.Done():
		return ErrorResponse(req, kerr.NotCoordinator.Code)
	case <-r.ctx.Done():
		return ErrorResponse(req, kerr.NotCoordinator.Code)
	}
	// The runner answers every call it took, even when it stops
	// (shutdown), so this wait ends.
	select {
	case resp := <-c.done:
		return resp
	case <-ctx.Done():
		return ErrorResponse(req, kerr.NotCoordinator.Code)
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
			r.core.Tick(r.m.now())
			r.flush()
		}
	}
}

// resetTimer arms t for the core's next deadline, or the load retry.
func (r *runner) resetTimer(t *time.Timer) {
	d := reloadEvery
	if r.core != nil {
		next, ok := r.core.Deadline()
		if !ok {
			next = r.m.now().Add(time.Hour)
		}
		d = max(next.Sub(r.m.now()), 0)
	}
	t.Reset(d)
}

// drain steps the inputs already queued, so one append covers them.
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
	if w := in.written; w != nil {
		if r.core != nil && w.gen == r.gen {
			r.core.MarkersWritten(now, w.m.TransactionalID, w.m.ProducerID, w.m.ProducerEpoch, w.partitions)
		}
		return
	}
	if r.core == nil {
		in.call.done <- ErrorResponse(in.call.req, kerr.CoordinatorNotAvailable.Code)
		return
	}
	r.pending = append(r.pending, reply{in.call, r.core.Handle(now, in.call.req)})
}

// flush persists the core's records, then releases its replies and
// starts writing its markers. A failed append leaves memory ahead of the
// log, so the core is rebuilt from the log and the waiting clients are
// answered with an error that sends them to find the coordinator again.
func (r *runner) flush() {
	if r.core == nil {
		return
	}
	out := r.core.Ready()
	if len(out.Records) > 0 {
		if err := r.append(out.Records); err != nil {
			r.m.log.Error("transaction coordinator append failed; reloading", "partition", r.partition, "err", err)
			r.failAll(appendErrorCode(err))
			if r.loading {
				// The load's own records (completions) failed: retry
				// the load later rather than at once, and forever.
				r.unload(stateUnavailable)
				return
			}
			r.load()
			return
		}
	}
	for _, rep := range r.pending {
		rep.call.done <- rep.resp
	}
	r.pending = r.pending[:0]
	for i := range out.Markers {
		r.startMarkers(&out.Markers[i])
	}
}

// appendErrorCode is how Kafka answers requests whose records failed to
// append: NOT_COORDINATOR when the leadership moved, else
// COORDINATOR_NOT_AVAILABLE (retried at the same coordinator).
func appendErrorCode(err error) int16 {
	if errors.Is(err, replica.ErrNotLeader) || errors.Is(err, replica.ErrUnknownPartition) {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// append writes recs durably (acks=all), in batches no larger than the
// log accepts.
func (r *runner) append(recs []record.Record) error {
	l := r.m.cfg.Log(r.partition)
	if l == nil {
		return fmt.Errorf("txn: partition %d has no log here", r.partition)
	}
	var data []byte
	limit := int(l.Config().MaxMessageBytes) - record.HeaderSize
	ts := r.m.now().UnixMilli()
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+recordSize(recs[n]) <= limit) {
			size += recordSize(recs[n])
			n++
		}
		data = append(data, record.Build(ts, recs[:n])...)
		recs = recs[n:]
	}
	_, err := l.Append(r.ctx, data, replica.AppendOptions{Acks: -1, Storage: storage.AppendOptions{Sync: true}})
	return err
}

// recordSize bounds the encoded size of rec in a batch.
func recordSize(rec record.Record) int { return len(rec.Key) + len(rec.Value) + 32 }

// failAll answers every reply held with code.
func (r *runner) failAll(code int16) {
	for _, rep := range r.pending {
		rep.call.done <- ErrorResponse(rep.call.req, code)
	}
	r.pending = r.pending[:0]
}

// shutdown stops the runner: waiting calls are answered NOT_COORDINATOR,
// and the marker writers are stopped and waited for (the next
// coordinator resumes their transactions from the log).
func (r *runner) shutdown() {
	r.state.Store(stateStopped)
	r.failAll(kerr.NotCoordinator.Code)
	r.cancel()
	r.senders.Wait()
	// Calls sent while the runner was stopping: do's sends select on
	// r.ctx too, so any that got through are here.
	for {
		select {
		case in := <-r.in:
			if in.call != nil {
				in.call.done <- ErrorResponse(in.call.req, kerr.NotCoordinator.Code)
			}
		default:
			return
		}
	}
}

// unload drops the core and stops its marker writers.
func (r *runner) unload(state int32) {
	r.core = nil
	if r.genCancel != nil {
		r.genCancel()
	}
	r.gen++
	r.state.Store(state)
}

// load rebuilds the core from the partition log, then lets it resume the
// transactions the previous coordinator left preparing.
func (r *runner) load() {
	r.unload(stateLoading)
	l := r.m.cfg.Log(r.partition)
	if l == nil {
		r.state.Store(stateUnavailable)
		return
	}
	core, err := New(r.m.cfg.Core, r.partition, r.epoch)
	if err == nil {
		err = replayLog(r.ctx, l, core)
	}
	if err != nil {
		r.m.log.Error("transaction coordinator load failed", "partition", r.partition, "err", err)
		r.state.Store(stateUnavailable)
		return
	}
	r.genCtx, r.genCancel = context.WithCancel(r.ctx)
	core.Loaded(r.m.now())
	r.core = core
	r.state.Store(stateReady)
	r.loading = true
	r.flush()
	r.loading = false
}

// replayLog feeds the partition's whole log to core, batch by batch.
func replayLog(ctx context.Context, l *replica.Partition, core *Coordinator) error {
	end := l.LogEndOffset()
	for off := l.LogStartOffset(); off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := l.ReadReplica(off, replayChunk, true)
		if err != nil {
			return err
		}
		next, err := replayChunks(res.Chunks, core)
		res.Release()
		if err != nil {
			return err
		}
		if next <= off {
			return nil
		}
		off = next
	}
	return nil
}

// replayChunks replays whole batches and returns the offset after the last.
func replayChunks(chunks []storage.Chunk, core *Coordinator) (int64, error) {
	var next int64 = -1
	for _, ch := range chunks {
		b, err := ch.ReadAll()
		if err != nil {
			return next, err
		}
		for len(b) >= record.HeaderSize {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				return next, fmt.Errorf("%w: batch header: %v", errBadRecord, err)
			}
			next = h.LastOffset() + 1
			if err := core.ReplayBatch(b[:h.Size()]); err != nil {
				core.log.Warn("skipping undecodable __transaction_state batch", "offset", h.BaseOffset, "err", err)
			}
			b = b[h.Size():]
		}
	}
	return next, nil
}
