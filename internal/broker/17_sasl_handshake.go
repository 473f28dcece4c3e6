package broker

// SaslHandshake v0–v1. When SASL is on, the connection layer
// (internal/server) answers it itself, before and during authentication and
// to re-authenticate (KIP-368); a request reaching this handler came on a
// connection that needs no authentication, and is answered as Kafka's
// KafkaApis answers one: ILLEGAL_SASL_STATE. Registered all the same so
// ApiVersions advertises it (librdkafka 2.0 wants v0 listed).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSASLHandshake(_ *Broker, _ context.Context, r *Request) (*Response, error) {
	resp := r.Msg.(*kmsg.SASLHandshakeRequest).ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return respond(resp)
}
