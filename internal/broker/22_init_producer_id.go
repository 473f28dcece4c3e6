package broker

// InitProducerId v0–v5. Without a transactional id it hands out a new
// producer ID at epoch 0, as Kafka does for idempotent producers (KIP-360
// epoch bumps of an existing ID are answered the same way). With one, the
// transactional id's coordinator answers (txns.go): the id's producer id
// and a bumped epoch, fencing the producers before it. ACLs, as Kafka:
// WRITE on the transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
// without one IDEMPOTENT_WRITE on the cluster or, as KIP-679 allows, WRITE
// on some topic (else CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleInitProducerID(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil && !b.authorized(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	case req.TransactionalID != nil:
		return handleTxnRequest(b, ctx, r)
	case !b.authorizedCluster(r, kmsg.ACLOperationIdempotentWrite) &&
		!b.authorizedByType(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	id, err := b.pids.Next()
	if err != nil {
		b.log.Error("allocating producer id", "err", err)
		resp.ErrorCode = errorCode(fmt.Errorf("allocating producer id: %w", err))
		return respond(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp)
}
