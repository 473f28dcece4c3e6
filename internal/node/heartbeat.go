package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
)

// membership is what a cluster member runs beside its broker: its
// heartbeats to the controller and, while it leads the metadata quorum,
// the controller's duties (fencing brokers whose session expired,
// rebalancing leaders).
type membership struct {
	stop     context.CancelFunc
	done     chan struct{}
	unfenced chan struct{} // closed at the first heartbeat answered unfenced
	ctrl     *controller.Controller
	epoch    int64 // this incarnation's registration
	timeout  time.Duration
}

// startMembership starts heartbeating every broker.heartbeat.interval.ms
// and the controller's duties. The first heartbeat unfences this node: it
// is called once the broker follows the image and serves.
func (n *Node) startMembership(ctrl *controller.Controller, epoch int64, settings config.BrokerConfig) *membership {
	ctx, stop := context.WithCancel(context.Background())
	m := &membership{stop: stop, done: make(chan struct{}), unfenced: make(chan struct{}), ctrl: ctrl, epoch: epoch,
		timeout: millis(settings, "broker.session.timeout.ms")}
	interval := millis(settings, "broker.heartbeat.interval.ms")
	duties := controller.DutyConfig{
		Leading: func() bool { return n.controllerID() == n.cfg.NodeID },
		Session: m.timeout,
		Tick:    min(interval/2, 100*time.Millisecond),
		Logger:  n.log,
	}
	if settings.Bool("auto.leader.rebalance.enable") {
		duties.Rebalance = time.Duration(settings.Int("leader.imbalance.check.interval.seconds")) * time.Second
	}
	go func() {
		defer close(m.done)
		go ctrl.RunDuties(ctx, duties)
		var lastErr string
		unfenced := false
		for {
			res, err := n.heartbeat(ctx, m, controller.Heartbeat{Broker: n.cfg.NodeID, Epoch: epoch})
			if msg := fmt.Sprint(err); err != nil && msg != lastErr && ctx.Err() == nil {
				n.log.Warn("heartbeat to the controller failed", "err", err)
			}
			lastErr = fmt.Sprint(err)
			if err == nil && !res.Fenced && !unfenced {
				unfenced = true
				close(m.unfenced)
				n.log.Info("broker unfenced: leading and serving as the metadata says")
			}
			// A fenced or unheard broker retries soon: until then it leads
			// nothing.
			wait := interval
			if err != nil || res.Fenced {
				wait = min(interval, 200*time.Millisecond)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
	return m
}

// waitUnfenced waits until the controller has unfenced this node.
func (m *membership) waitUnfenced(ctx context.Context) error {
	select {
	case <-m.unfenced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node: waiting to be unfenced by the controller: %w", ctx.Err())
	}
}

// heartbeat sends hb to the controller: to this node's own controller when
// it leads the quorum, else over the Kafka protocol to the leader.
func (n *Node) heartbeat(ctx context.Context, m *membership, hb controller.Heartbeat) (controller.HeartbeatResult, error) {
	leader := n.controllerID()
	switch leader {
	case -1:
		return controller.HeartbeatResult{}, errors.New("no metadata quorum leader")
	case n.cfg.NodeID:
		return m.ctrl.Heartbeat(hb, time.Now())
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.WantFence, req.WantShutdown = hb.Broker, hb.Epoch, hb.WantFence, hb.WantShutdown
	req.CurrentMetadataOffset = -1
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	cl := n.replicas.client
	raw, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		cl.ForceMetadataRefresh() // the controller may be new to the client
		return controller.HeartbeatResult{}, fmt.Errorf("heartbeat to controller %d: %w", leader, err)
	}
	resp := raw.(*kmsg.BrokerHeartbeatResponse)
	res := controller.HeartbeatResult{Fenced: resp.IsFenced, ShouldShutdown: resp.ShouldShutdown}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, kerr.StaleBrokerEpoch) {
			err = fmt.Errorf("%w: another node registered as broker %d since this one did (two nodes with one --node-id?)", err, n.cfg.NodeID)
		}
		return res, fmt.Errorf("heartbeat to controller %d: %w", leader, err)
	}
	return res, nil
}

// controlledShutdown stops heartbeating and asks the controller to move
// this node's leaderships away before it stops (Kafka's controlled
// shutdown), giving up after a session timeout: a node that cannot reach
// a quorum stops anyway, and its session expires.
func (n *Node) controlledShutdown(m *membership) {
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	for {
		res, err := n.heartbeat(ctx, m, controller.Heartbeat{Broker: n.cfg.NodeID, Epoch: m.epoch, WantShutdown: true})
		if err == nil && res.ShouldShutdown {
			n.log.Info("controlled shutdown: leaderships moved away")
			if n.controllerID() == n.cfg.NodeID {
				// The quorum's followers learn that the change is
				// committed from the leader's next heartbeats: stopping
				// at once would leave the brokers naming this node the
				// leader until a new quorum leader commits it again.
				time.Sleep(3 * quorumTick)
			}
			return
		}
		select {
		case <-ctx.Done():
			n.log.Warn("controlled shutdown did not complete; stopping anyway", "err", err)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
