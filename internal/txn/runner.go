package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/coordinator"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
)

// written reports markers a sender wrote, for the core that asked.
type written struct {
	core       *runnerCore
	m          *Markers
	partitions []TopicPartition
}

// loader builds one __transaction_state partition's cores for its runner
// and owns their marker writers.
type loader struct {
	m *Manager
	r *coordinator.Runner
	// senders are the marker writers of every core of r; Stop waits for
	// them.
	senders sync.WaitGroup
}

// Load rebuilds a core from the partition log; the runner then flushes
// its first output, which resumes the transactions the previous
// coordinator left preparing.
func (ld *loader) Load(ctx context.Context, l *replica.Partition, now time.Time) (coordinator.Core, error) {
	core, err := New(ld.m.cfg.Core, ld.r.Partition(), ld.r.Epoch())
	if err != nil {
		return nil, err
	}
	if err := coordinator.Replay(ctx, l, func(batch []byte) {
		if err := core.ReplayBatch(batch); err != nil {
			h, _ := record.ParseHeader(batch)
			core.log.Warn("skipping undecodable __transaction_state batch", "offset", h.BaseOffset, "err", err)
		}
	}); err != nil {
		return nil, fmt.Errorf("txn: load: %w", err)
	}
	a := &runnerCore{ld: ld, c: core}
	a.ctx, a.cancel = context.WithCancel(ctx)
	core.Loaded(now)
	return a, nil
}

func (ld *loader) Stop() { ld.senders.Wait() }

// runnerCore adapts a Coordinator to its runner: replies are computed at
// once but held until the step's records are durable, and markers are
// written only then.
type runnerCore struct {
	ld      *loader
	c       *Coordinator
	ctx     context.Context // ends when this core's marker writers must stop
	cancel  context.CancelFunc
	replies []coordinator.Reply
	markers []Markers // of the last Ready, started by Flushed
}

func (a *runnerCore) Handle(now time.Time, call *coordinator.Call) {
	a.replies = append(a.replies, coordinator.Reply{ID: call.ID, Resp: a.c.Handle(now, call.Req)})
}

// Cancel keeps the reply: Handle answered at once, and the runner drops
// replies to calls it no longer holds.
func (a *runnerCore) Cancel(time.Time, uint64) {}

func (a *runnerCore) Event(now time.Time, ev any) {
	// Reports for an older core (before a reload) are stale.
	if w := ev.(written); w.core == a {
		a.c.MarkersWritten(now, w.m.TransactionalID, w.m.ProducerID, w.m.ProducerEpoch, w.partitions)
	}
}

func (a *runnerCore) Tick(now time.Time)          { a.c.Tick(now) }
func (a *runnerCore) Deadline() (time.Time, bool) { return a.c.Deadline() }
func (a *runnerCore) Close()                      { a.cancel() }

func (a *runnerCore) Ready() coordinator.Output {
	out := a.c.Ready()
	co := coordinator.Output{Replies: a.replies}
	a.replies, a.markers = nil, out.Markers
	for _, rec := range out.Records {
		co.Records = append(co.Records, coordinator.Record{Record: rec, ProducerID: -1})
	}
	return co
}

func (a *runnerCore) Flushed() {
	for i := range a.markers {
		a.startMarkers(&a.markers[i])
	}
	a.markers = nil
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
