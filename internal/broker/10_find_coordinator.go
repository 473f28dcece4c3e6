package broker

// FindCoordinator v0–v6 (v4+ batches keys). Groups (key type 0) are
// coordinated by the leader of their __consumer_offsets partition,
// transactional ids (1) by the leader of their __transaction_state
// partition; both topics are created at the first request that needs
// them on a cluster. Share-group (2) coordinators do not exist yet and are
// refused with a non-retriable error. ACLs, as Kafka: DESCRIBE on the
// group (else GROUP_AUTHORIZATION_FAILED) or on the transactional id (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), per key from v4.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/group"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleFindCoordinator(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		c := b.coordinatorFor(r, req.CoordinatorKey, req.CoordinatorType)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return respond(resp)
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, b.coordinatorFor(r, key, req.CoordinatorType))
	}
	return respond(resp)
}

// coordinatorDenied is the error a key the principal may not DESCRIBE
// answers, 0 if it may.
func (b *Broker) coordinatorDenied(r *Request, key string, keyType int8) int16 {
	switch {
	case keyType == 0 && !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key):
		return kerr.GroupAuthorizationFailed.Code
	case keyType == 1 && !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key):
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	return 0
}

func (b *Broker) coordinatorFor(r *Request, key string, keyType int8) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID = key, -1
	if c.ErrorCode = b.coordinatorDenied(r, key, keyType); c.ErrorCode != 0 {
		return c
	}
	var leader kmsg.MetadataResponseBroker
	var ok bool
	switch keyType {
	case 0:
		leader, ok = b.groupLeader(key)
	case 1:
		if key == "" {
			// As Kafka: an empty transactional id has no coordinator.
			c.ErrorCode = kerr.InvalidRequest.Code
			return c
		}
		leader, ok = b.txnLeader(key)
	default:
		err := fmt.Errorf("%w: coordinator key type %d is not supported yet", kerr.InvalidRequest, keyType)
		c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		return c
	}
	if !ok {
		c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return c
	}
	c.NodeID, c.Host, c.Port = leader.NodeID, leader.Host, leader.Port
	return c
}

// groupLeader is the broker leading the group's __consumer_offsets
// partition: its coordinator.
func (b *Broker) groupLeader(groupID string) (kmsg.MetadataResponseBroker, bool) {
	t, ok := b.meta.Topic(meta.ConsumerOffsetsTopic)
	if !ok && b.cfg.Clustered {
		var err error
		if t, err = b.createOffsetsTopic(); err != nil {
			b.log.Warn("cannot create the group coordinators' topic yet", "err", err)
			return kmsg.MetadataResponseBroker{}, false
		}
		ok = true
	}
	if !ok || t.Partitions == 0 {
		return kmsg.MetadataResponseBroker{}, false
	}
	return b.broker(t.Assignments[group.PartitionFor(groupID, t.Partitions)].Leader)
}
