package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// Heartbeat is what a broker tells the controller every
// broker.heartbeat.interval.ms (Kafka's BrokerHeartbeat).
type Heartbeat struct {
	Broker       int32
	Epoch        int64 // the incarnation it registered as
	WantFence    bool  // it is not ready to lead (still starting)
	WantShutdown bool  // it is stopping: move its leaderships away
}

// HeartbeatResult is the controller's answer.
type HeartbeatResult struct {
	Fenced bool
	// ShouldShutdown tells a broker that asked to shut down that it leads
	// nothing any more and may stop.
	ShouldShutdown bool
}

// liveness is the controller's memory of broker sessions: when each
// broker last heartbeated. Only the quorum leader's is used; a new leader
// starts every session afresh, since it does not know when the brokers
// last reached its predecessor.
type liveness struct {
	mu       sync.Mutex
	lastSeen map[int32]time.Time
	start    time.Time // when this node last became the leader
}

func (l *liveness) seen(id int32, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastSeen == nil {
		l.lastSeen = map[int32]time.Time{}
	}
	l.lastSeen[id] = now
}

// reset starts every broker's session at now.
func (l *liveness) reset(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastSeen = map[int32]time.Time{}
	l.start = now
}

// expired returns the unfenced brokers of img whose session ended before
// now: no heartbeat within session since the later of their last one and
// the last reset.
func (l *liveness) expired(img *meta.Image, now time.Time, session time.Duration) []meta.Broker {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []meta.Broker
	for _, b := range img.LiveBrokers() {
		last := l.start
		if t, ok := l.lastSeen[b.ID]; ok && t.After(last) {
			last = t
		}
		if now.Sub(last) > session {
			out = append(out, b)
		}
	}
	return out
}

// Heartbeat records a broker's heartbeat at now and acts on it: a fenced
// broker that is ready is unfenced; one that wants to shut down is fenced
// and its leaderships moved (controlled shutdown). It is refused with
// ErrUnknownBroker for a broker not registered at that epoch (an older
// incarnation, or a second node started with the same id).
func (c *Controller) Heartbeat(hb Heartbeat, now time.Time) (HeartbeatResult, error) {
	img := c.cfg.Store.Image()
	b, ok := img.Broker(hb.Broker)
	if !ok || b.Epoch != hb.Epoch {
		return HeartbeatResult{}, fmt.Errorf("%w: broker %d epoch %d", ErrUnknownBroker, hb.Broker, hb.Epoch)
	}
	c.live.seen(hb.Broker, now)
	switch {
	case hb.WantShutdown:
		if err := c.FenceBroker(hb.Broker, hb.Epoch); err != nil {
			return HeartbeatResult{Fenced: b.Fenced}, err
		}
		return HeartbeatResult{Fenced: true, ShouldShutdown: !leadsAny(c.cfg.Store.Image(), hb.Broker)}, nil
	case hb.WantFence:
		if !b.Fenced {
			if err := c.FenceBroker(hb.Broker, hb.Epoch); err != nil {
				return HeartbeatResult{}, err
			}
		}
		return HeartbeatResult{Fenced: true}, nil
	case b.Fenced:
		if err := c.UnfenceBroker(hb.Broker, hb.Epoch); err != nil {
			return HeartbeatResult{Fenced: true}, err
		}
	}
	return HeartbeatResult{}, nil
}

func leadsAny(img *meta.Image, id int32) bool {
	for _, t := range img.Topics() {
		for _, p := range t.Assignments {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// DutyConfig configures the duties the quorum leader runs (RunDuties).
type DutyConfig struct {
	// Leading reports whether this node is the metadata quorum's leader:
	// only the leader fences brokers and rebalances leaders.
	Leading func() bool
	// Session is broker.session.timeout.ms: a broker not heard from for
	// this long is fenced.
	Session time.Duration
	// Tick is how often sessions are checked.
	Tick time.Duration
	// Rebalance is leader.imbalance.check.interval.seconds, 0 when
	// auto.leader.rebalance.enable is off.
	Rebalance time.Duration
	Logger    *slog.Logger
}

// RunDuties runs the controller's periodic work until ctx ends, on the
// node leading the metadata quorum: fencing brokers whose session
// expired, and with auto.leader.rebalance.enable giving partitions back to
// their preferred leaders.
func (c *Controller) RunDuties(ctx context.Context, cfg DutyConfig) {
	tick := time.NewTicker(cfg.Tick)
	defer tick.Stop()
	leading := false
	var lastRebalance time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !cfg.Leading() {
				leading = false
				continue
			}
			if !leading {
				leading, lastRebalance = true, now
				c.live.reset(now)
			}
			img := c.cfg.Store.Image()
			for _, b := range c.live.expired(img, now, cfg.Session) {
				err := c.FenceBroker(b.ID, b.Epoch)
				cfg.Logger.Warn("broker session expired: fenced, its leaderships move", "broker", b.ID, "session", cfg.Session, "err", err)
			}
			if cfg.Rebalance > 0 && now.Sub(lastRebalance) >= cfg.Rebalance {
				lastRebalance = now
				c.rebalance(cfg.Logger)
			}
		}
	}
}

func (c *Controller) rebalance(log *slog.Logger) {
	if !Imbalanced(c.cfg.Store.Image()) {
		return
	}
	elected, err := c.ElectLeaders(nil, false)
	if err != nil && !errors.Is(err, meta.ErrStalePartitionEpoch) {
		log.Warn("preferred leader election failed", "err", err)
		return
	}
	log.Info("preferred leaders elected", "partitions", len(elected), "first", firstKeys(elected))
}

func firstKeys(m map[TopicPartition]error) []TopicPartition {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return keys[:min(len(keys), 5)]
}
