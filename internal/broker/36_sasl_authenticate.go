package broker

// SaslAuthenticate v0–v2. As SaslHandshake (17_sasl_handshake.go): the
// connection layer answers it while a SASL exchange runs; one reaching the
// broker is out of place and gets ILLEGAL_SASL_STATE, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSASLAuthenticate(_ *Broker, _ context.Context, r *Request) (*Response, error) {
	resp := r.Msg.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate request received after successful authentication"
	resp.ErrorMessage = &msg
	return respond(resp)
}
