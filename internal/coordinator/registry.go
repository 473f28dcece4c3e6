package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/replica"
)

var (
	// ErrClosed is returned by Elect after Close.
	ErrClosed   = errors.New("coordinator: registry closed")
	errBadBatch = errors.New("coordinator: bad batch")
)

// Config configures a Registry and its runners.
type Config struct {
	// Name names the coordinator kind in logs ("group", "transaction").
	Name   string
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NumPartitions is the partition count of the internal topic.
	NumPartitions int32
	// Log returns this node's replica of a partition, nil if none.
	Log func(partition int32) *replica.Partition
	// NewLoader returns the loader of a new runner.
	NewLoader func(r *Runner) Loader
	// ErrorResponse answers req with an error code.
	ErrorResponse func(req kmsg.Request, code int16) kmsg.Response
	// AppendErrorCode is the code of the calls waiting when an append
	// fails; nil means NOT_COORDINATOR.
	AppendErrorCode func(err error) int16
	// CancelOnGiveUp makes a caller that stops waiting tell the core
	// (Core.Cancel), for cores that park requests; otherwise the caller
	// is answered NOT_COORDINATOR at once and the reply later dropped.
	CancelOnGiveUp bool
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("coordinator: NumPartitions %d < 1", c.NumPartitions)
	case c.Log == nil || c.NewLoader == nil || c.ErrorResponse == nil:
		return errors.New("coordinator: Log, NewLoader and ErrorResponse must be set")
	}
	return nil
}

// Registry runs one Runner per elected partition.
type Registry struct {
	cfg    Config
	ctx    context.Context // canceled by Close; the runners' contexts derive from it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once

	// electMu serializes Elect, Resign and Close. It is held while a
	// resigning runner exits, so a re-election never loads the log while
	// the old coordinator may still append to it.
	electMu sync.Mutex
	mu      struct {
		sync.RWMutex
		runners []*Runner // by partition; nil where not elected
	}
}

// NewRegistry returns a Registry running no partition yet.
func NewRegistry(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AppendErrorCode == nil {
		cfg.AppendErrorCode = func(error) int16 { return kerr.NotCoordinator.Code }
	}
	g := &Registry{cfg: cfg}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.mu.runners = make([]*Runner, cfg.NumPartitions)
	return g, nil
}

// Elect starts partition's runner at epoch, which loads the partition in
// the background. An election at the epoch already held, or an older one,
// changes nothing; a newer one replaces the runner.
func (g *Registry) Elect(partition, epoch int32) error {
	if partition < 0 || partition >= g.cfg.NumPartitions {
		return fmt.Errorf("coordinator: elect partition %d of %d", partition, g.cfg.NumPartitions)
	}
	g.electMu.Lock()
	defer g.electMu.Unlock()
	if g.ctx.Err() != nil {
		return fmt.Errorf("coordinator: elect partition %d: %w", partition, ErrClosed)
	}
	if old := g.Runner(partition); old != nil {
		if old.epoch >= epoch {
			return nil
		}
		g.resignLocked(partition)
	}
	r := newRunner(g, partition, epoch)
	g.mu.Lock()
	g.mu.runners[partition] = r
	g.mu.Unlock()
	g.wg.Add(1)
	go r.run()
	return nil
}

// Resign stops partition's runner, if any, and waits for it to exit.
func (g *Registry) Resign(partition int32) {
	g.electMu.Lock()
	defer g.electMu.Unlock()
	if partition >= 0 && partition < g.cfg.NumPartitions {
		g.resignLocked(partition)
	}
}

// resignLocked stops partition's runner and waits for it to exit; the
// caller holds electMu.
func (g *Registry) resignLocked(partition int32) {
	g.mu.Lock()
	r := g.mu.runners[partition]
	g.mu.runners[partition] = nil
	g.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// Runner returns partition's runner, nil if not elected.
func (g *Registry) Runner(partition int32) *Runner {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.mu.runners[partition]
}

// Elected returns the runners of the elected partitions.
func (g *Registry) Elected() []*Runner {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*Runner
	for _, r := range g.mu.runners {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Do sends req to partition's runner, NOT_COORDINATOR if not elected.
func (g *Registry) Do(ctx context.Context, partition int32, req kmsg.Request, client any) kmsg.Response {
	r := g.Runner(partition)
	if r == nil {
		return g.cfg.ErrorResponse(req, kerr.NotCoordinator.Code)
	}
	return r.Do(ctx, req, client)
}

// WaitLoaded waits until every elected partition has finished its first
// load (or failed it), or ctx ends.
func (g *Registry) WaitLoaded(ctx context.Context) error {
	for _, r := range g.Elected() {
		select {
		case <-r.firstLoad:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops every runner; waiting calls are answered NOT_COORDINATOR.
func (g *Registry) Close() {
	g.closed.Do(func() {
		g.electMu.Lock()
		defer g.electMu.Unlock()
		g.cancel()
		g.wg.Wait()
	})
}
