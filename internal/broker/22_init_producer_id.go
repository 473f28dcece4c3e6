package broker

// InitProducerId v0–v5 for idempotent producers: each call hands out a new
// producer ID at epoch 0, as Kafka does when there is no transactional ID
// (KIP-360 epoch bumps of an existing ID are answered the same way).
// Transactional IDs are refused until transactions exist.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleInitProducerID(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
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
