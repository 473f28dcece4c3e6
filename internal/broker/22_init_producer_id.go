package broker

// InitProducerId v0–v5. Without a transactional id it hands out a new
// producer ID at epoch 0, as Kafka does for idempotent producers (KIP-360
// epoch bumps of an existing ID are answered the same way). With one, the
// transactional id's coordinator answers (txns.go): the id's producer id
// and a bumped epoch, fencing the producers before it.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleInitProducerID(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		return handleTxnRequest(b, ctx, r)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id, err := b.pids.Next()
	if err != nil {
		b.log.Error("allocating producer id", "err", err)
		resp.ErrorCode = errorCode(fmt.Errorf("allocating producer id: %w", err))
		return respond(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp)
}
