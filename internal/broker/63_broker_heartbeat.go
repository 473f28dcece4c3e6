package broker

// BrokerHeartbeat v0–v2: a cluster member tells the controller it is
// alive, whether it is ready to lead, and whether it is shutting down
// (Kafka serves it on the controller listener; Eddy's controllers are its
// brokers, so it is served here). Only the metadata quorum's leader keeps
// broker sessions: another node answers NOT_CONTROLLER. An unknown broker
// or an older incarnation of one gets STALE_BROKER_EPOCH. ACLs, as Kafka's
// controller: CLUSTER_ACTION on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED (the broker stays fenced).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/controller"
)

func handleBrokerHeartbeat(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.BrokerHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	resp.IsFenced = true
	if !b.authorizedCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	if !b.cfg.Clustered || b.controllerID() != b.cfg.NodeID {
		resp.ErrorCode = kerr.NotController.Code
		return respond(resp)
	}
	res, err := b.ctrl.Heartbeat(controller.Heartbeat{Broker: req.BrokerID, Epoch: req.BrokerEpoch,
		WantFence: req.WantFence, WantShutdown: req.WantShutdown}, time.Now())
	// A heartbeat not acted on leaves the broker fenced as far as it can
	// tell: it must not lead on the strength of this answer.
	resp.IsFenced, resp.ShouldShutdown, resp.IsCaughtUp = res.Fenced || err != nil, res.ShouldShutdown, err == nil
	switch {
	case errors.Is(err, controller.ErrUnknownBroker):
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
	case err != nil:
		b.log.Warn("broker heartbeat not acted on", "broker", req.BrokerID, "err", err)
		resp.ErrorCode = errorCode(err)
	}
	return respond(resp)
}
