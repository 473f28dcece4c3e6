package server

// SASL on the Kafka listener, as Kafka's SaslServerAuthenticator does it.
// Before a connection authenticates it may send only ApiVersions,
// SaslHandshake and SaslAuthenticate; anything else closes it. SaslHandshake
// v0 is followed by raw size-prefixed SASL tokens (old clients: kafka-python,
// old librdkafka), v1 by SaslAuthenticate requests. Once authenticated the
// connection serves requests as User:<name>; with connections.max.reauth.ms
// the session expires and the client must authenticate again on the same
// connection (KIP-368: SaslHandshake v1 and SaslAuthenticate, same
// mechanism and principal) or be closed at its next request.
//
// All of this runs on the connection's handler goroutine (the first
// exchange before the request pipeline starts), so its state needs no lock;
// only the exchange timer, which closes the socket, runs elsewhere.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/broker"
)

var (
	// errSASLClosed closes a connection whose authentication failed or
	// went out of order; it has been logged already.
	errSASLClosed = errors.New("server: SASL authentication failed")
	// errSessionExpired closes a connection whose SASL session ended
	// without re-authentication.
	errSessionExpired = errors.New("server: SASL session expired")
)

// saslMaxReceiveBytes bounds a frame before authentication (Kafka's
// sasl.server.max.receive.size): strangers get no more than this.
const saslMaxReceiveBytes = 512 << 10

// defaultFailureDelay is Kafka's connection.failed.authentication.delay.ms.
const defaultFailureDelay = 100 * time.Millisecond

// SASLConfig turns SASL on for the listener.
type SASLConfig struct {
	Mechanisms []string    // sasl.enabled.mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Lookup     auth.Lookup // the users' SCRAM credentials
	// MaxReauth is connections.max.reauth.ms: how long a session lasts
	// before the client must re-authenticate; 0 means forever.
	MaxReauth time.Duration
	// Timeout (eddy.sasl.authentication.timeout.ms) closes a connection
	// not authenticated this long after it connected, or after it began
	// re-authenticating.
	Timeout time.Duration
	// FailureDelay holds back the answer to a failed authentication
	// (connection.failed.authentication.delay.ms), so guessing is slow.
	FailureDelay time.Duration
}

func (c *SASLConfig) validate() error {
	switch {
	case len(c.Mechanisms) == 0:
		return errors.New("server: SASL with no mechanisms")
	case c.Lookup == nil:
		return errors.New("server: SASL with no credential lookup")
	case c.Timeout <= 0:
		return errors.New("server: SASL authentication timeout must be positive")
	case c.MaxReauth < 0 || c.FailureDelay < 0:
		return errors.New("server: negative SASL duration")
	}
	for _, m := range c.Mechanisms {
		if _, ok := auth.ParseMechanism(m); !ok && m != auth.PLAIN {
			return fmt.Errorf("server: unsupported SASL mechanism %q", m)
		}
	}
	return nil
}

// saslConn is one connection's SASL state.
type saslConn struct {
	authenticated bool
	principal     string // User:<name>, once authenticated
	mechanism     string // of that authentication
	expires       time.Time
	// supportsReauth: the client sent SaslAuthenticate v1+, so it knows
	// KIP-368 and may re-authenticate.
	supportsReauth bool

	// The exchange in progress: nil server when none.
	server    auth.Server
	pending   string // its mechanism
	raw       bool   // after SaslHandshake v0: tokens without SaslAuthenticate framing
	badReauth string // re-authentication asked for another mechanism: fail with this
	timer     *time.Timer
	timedOut  atomic.Bool
}

func (c *conn) saslCfg() *SASLConfig { return c.s.cfg.SASL }

// authenticate runs the first SASL exchange, reading frames itself since a
// v0 exchange sends raw tokens, not requests; it returns nil once the
// connection is authenticated.
func (c *conn) authenticate(ctx context.Context, r *bufio.Reader) error {
	c.startExchangeTimer("authentication")
	defer c.stopExchangeTimer()
	for first := true; !c.sasl.authenticated; first = false {
		n, ft, err := c.readSize(r)
		if err != nil {
			c.readFailed(ctx, err)
			return err
		}
		limit := min(c.s.cfg.MaxRequestBytes, saslMaxReceiveBytes)
		if n < 0 || n > limit {
			c.badFrameSize(n, limit, first)
			return errSASLClosed
		}
		cl := c.s.frames.open(int64(n))
		frame, err := c.readBody(ctx, r, cl, ft)
		if err == nil {
			c.s.frames.finish(cl)
			err = c.authFrame(ctx, frame, time.Now())
		}
		c.s.frames.release(cl)
		if err != nil {
			if !errors.Is(err, errSASLClosed) && !c.sasl.timedOut.Load() {
				c.s.rl.info("sasl_closed", "closing kafka connection before SASL authentication", "remote", c.remote(), "err", err)
			}
			return err
		}
	}
	return nil
}

// authFrame handles one frame of the first exchange.
func (c *conn) authFrame(ctx context.Context, frame []byte, read time.Time) error {
	if c.sasl.raw {
		return c.rawToken(ctx, frame)
	}
	h, err := parseHeader(frame)
	if err != nil {
		return fmt.Errorf("not a Kafka request (client not configured for SASL?): %w", err)
	}
	h.read = read
	switch h.key {
	case kmsg.ApiVersions.Int16(), kmsg.SASLHandshake.Int16(), kmsg.SASLAuthenticate.Int16():
		return c.handleParsed(ctx, h)
	}
	c.s.rl.warn("sasl_unexpected", "closing kafka connection: request before SASL authentication (client not configured for SASL?)",
		"remote", c.remote(), "api", kmsg.NameForKey(h.key), "client_id", h.clientID)
	return errSASLClosed
}

// saslGate runs before every decoded request of a SASL connection. It
// reports whether the request is SASL's to answer (intercept), or fails
// one that may not be served: anything but SaslAuthenticate while an
// exchange runs, anything once the session expired.
func (c *conn) saslGate(h header) (intercept bool, err error) {
	s := c.sasl
	switch {
	case s.server != nil:
		if h.key != kmsg.SASLAuthenticate.Int16() {
			return false, c.illegalSASLState(h)
		}
		return true, nil
	case !s.authenticated:
		// Before the first handshake: only these reach here.
		return h.key != kmsg.ApiVersions.Int16(), nil
	case h.key == kmsg.SASLHandshake.Int16() && s.supportsReauth && h.version >= 1:
		return true, nil // re-authentication (KIP-368)
	case !s.expires.IsZero() && time.Now().After(s.expires):
		c.s.rl.info("sasl_expired", "closing kafka connection: SASL session expired without re-authentication",
			"remote", c.remote(), "principal", s.principal, "api", kmsg.NameForKey(h.key))
		return false, errSessionExpired
	}
	// The broker answers an out-of-place SaslHandshake or
	// SaslAuthenticate with ILLEGAL_SASL_STATE, as Kafka's KafkaApis.
	return false, nil
}

// illegalSASLState answers a request sent in the middle of a SASL exchange
// with ILLEGAL_SASL_STATE where its answer has an error code, then closes
// the connection, as Kafka does.
func (c *conn) illegalSASLState(h header) error {
	c.s.rl.warn("sasl_unexpected", "closing kafka connection: request in the middle of a SASL exchange",
		"remote", c.remote(), "api", kmsg.NameForKey(h.key))
	if resp := h.req.ResponseKind(); broker.Supported(h.key, h.version) && setTopLevelError(resp, kerr.IllegalSaslState.Code) {
		c.write(h, &broker.Response{Msg: resp})
	}
	return errSASLClosed
}

// handleSASL answers SaslHandshake and SaslAuthenticate.
func (c *conn) handleSASL(ctx context.Context, h header) error {
	switch req := h.req.(type) {
	case *kmsg.SASLHandshakeRequest:
		return c.saslHandshake(ctx, h, req)
	case *kmsg.SASLAuthenticateRequest:
		return c.saslAuthenticate(ctx, h, req)
	}
	return fmt.Errorf("server: %s is not a SASL request", kmsg.NameForKey(h.key))
}

func (c *conn) saslHandshake(ctx context.Context, h header, req *kmsg.SASLHandshakeRequest) error {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.saslCfg().Mechanisms
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.authFailed(ctx, req.Mechanism, "", fmt.Errorf("unsupported SASL mechanism %q (enabled: %s)",
			req.Mechanism, strings.Join(resp.SupportedMechanisms, ",")))
		c.write(h, &broker.Response{Msg: resp})
		return errSASLClosed
	}
	srv, err := auth.NewServer(req.Mechanism, c.saslCfg().Lookup, c.s.secret)
	if err != nil {
		return err
	}
	s := c.sasl
	s.server, s.pending, s.raw, s.badReauth = srv, req.Mechanism, h.version == 0, ""
	if s.authenticated {
		c.startExchangeTimer("re-authentication")
		if req.Mechanism != s.mechanism {
			// Kafka accepts the handshake and fails the exchange.
			s.badReauth = fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", req.Mechanism, s.mechanism)
		}
	}
	return c.write(h, &broker.Response{Msg: resp})
}

func (c *conn) saslAuthenticate(ctx context.Context, h header, req *kmsg.SASLAuthenticateRequest) error {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	s := c.sasl
	if s.server == nil || s.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate before SaslHandshake v1"
		resp.ErrorMessage = &msg
		c.authFailed(ctx, "", "", errors.New(msg))
		c.write(h, &broker.Response{Msg: resp})
		return errSASLClosed
	}
	if h.version > 0 {
		s.supportsReauth = true
	}
	answer, done, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := clientMessage(err, s.pending, s.authenticated)
		resp.ErrorMessage = &msg
		c.authFailed(ctx, s.pending, s.server.User(), err)
		c.write(h, &broker.Response{Msg: resp})
		return errSASLClosed
	}
	resp.SASLAuthBytes = answer
	if done {
		resp.SessionLifetimeMillis = c.completeAuth().Milliseconds()
	}
	return c.write(h, &broker.Response{Msg: resp})
}

// rawToken handles one token of a v0 exchange: answered size-prefixed
// without framing; a failure just closes, as Kafka (no framing to say it).
func (c *conn) rawToken(ctx context.Context, token []byte) error {
	answer, done, err := c.saslStep(token)
	if err != nil {
		c.authFailed(ctx, c.sasl.pending, c.sasl.server.User(), err)
		return errSASLClosed
	}
	if done {
		c.completeAuth()
	}
	if d := c.s.cfg.IdleTimeout; d > 0 {
		c.c.SetWriteDeadline(time.Now().Add(d))
	}
	c.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(answer))))
	c.w.Write(answer)
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("writing SASL token: %w", err)
	}
	return nil
}

// saslStep feeds the exchange one token; a re-authentication must keep
// its mechanism and principal.
func (c *conn) saslStep(token []byte) ([]byte, bool, error) {
	s := c.sasl
	if s.badReauth != "" {
		return nil, false, fmt.Errorf("%w: %s", auth.ErrRefused, s.badReauth)
	}
	answer, done, err := s.server.Step(token)
	if err == nil && done && s.authenticated && "User:"+s.server.User() != s.principal {
		err = fmt.Errorf("%w: cannot change principals during re-authentication from %s: User:%s", auth.ErrRefused, s.principal, s.server.User())
	}
	return answer, done, err
}

// completeAuth makes the exchange's user the connection's principal (a
// SASL principal wins over a client certificate's, as in Kafka) and
// returns the session's lifetime, 0 for none.
func (c *conn) completeAuth() time.Duration {
	s := c.sasl
	reauthenticated := s.authenticated
	s.principal = "User:" + s.server.User()
	s.mechanism, s.authenticated, s.server, s.raw = s.pending, true, nil, false
	c.principal = s.principal
	c.stopExchangeTimer()
	if reauthenticated {
		c.log.Debug("SASL re-authentication succeeded", "principal", s.principal, "mechanism", s.mechanism)
	} else {
		c.log.Debug("SASL authentication succeeded", "principal", s.principal, "mechanism", s.mechanism)
	}
	s.expires = time.Time{}
	if d := c.saslCfg().MaxReauth; d > 0 {
		s.expires = time.Now().Add(d)
		return d
	}
	return 0
}

// clientMessage is what a client is told of a failure: the reason, unless
// it concerns the credentials, which are never detailed (that would tell
// which users exist).
func clientMessage(err error, mechanism string, reauth bool) string {
	what := "authentication"
	if reauth {
		what = "re-authentication"
	}
	if errors.Is(err, auth.ErrBadCredentials) {
		return fmt.Sprintf("Authentication failed during %s due to invalid credentials with SASL mechanism %s", what, mechanism)
	}
	return fmt.Sprintf("Authentication failed during %s: %v", what, err)
}

// authFailed logs a failed authentication (rate-limited, with the peer and
// user) and waits FailureDelay before the failure is answered, so a guesser
// gets few tries per connection-second; other connections are not held up.
func (c *conn) authFailed(ctx context.Context, mechanism, user string, err error) {
	c.s.rl.warn("sasl_failed", "SASL authentication failed", "remote", c.remote(), "mechanism", mechanism, "user", user, "err", err)
	c.s.metrics.authFailed(mechanism)
	if d := c.saslCfg().FailureDelay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// startExchangeTimer closes the connection if the exchange has not ended
// within the SASL timeout. Closing the socket (not the TLS layer, whose
// Close may wait on a stuck write) ends whatever the goroutines block on.
func (c *conn) startExchangeTimer(what string) {
	c.stopExchangeTimer()
	c.sasl.timer = time.AfterFunc(c.saslCfg().Timeout, func() {
		c.sasl.timedOut.Store(true)
		c.s.rl.warn("sasl_timeout", "closing kafka connection: SASL authentication did not finish in time",
			"exchange", what, "remote", c.remote(), "timeout", c.saslCfg().Timeout)
		c.raw.Close()
	})
}

func (c *conn) stopExchangeTimer() {
	if c.sasl.timer != nil {
		c.sasl.timer.Stop()
		c.sasl.timer = nil
	}
}
