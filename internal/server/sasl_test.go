package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streaming/eddy/internal/auth"
)

// These tests run a server without a broker: SASL is answered by the
// server itself, and ApiVersions at an unknown version (unknownAPIVersions)
// shows that an authenticated connection is served. The principal a
// connection gets is read from the server's debug log.

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until the log holds every one of parts on one line.
func (b *logBuffer) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	poll(t, "log line with "+strings.Join(parts, ", "), func() bool {
		for _, line := range strings.Split(b.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return true
			}
		}
		return false
	})
}

var testPasswords = map[string]string{"alice": "alice-secret", "bob": "bob-secret"}

// testLookup holds alice and bob under both SCRAM mechanisms.
func testLookup(t testing.TB) auth.Lookup {
	creds := map[string]auth.Credential{}
	for user, pw := range testPasswords {
		for _, m := range auth.Mechanisms {
			c, err := auth.NewCredential(m, pw, auth.MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			creds[user+"/"+m.String()] = c
		}
	}
	return func(user string, m auth.Mechanism) (auth.Credential, bool) {
		c, ok := creds[user+"/"+m.String()]
		return c, ok
	}
}

func saslConfig(t testing.TB, log *slog.Logger) Config {
	cfg := testConfig(log)
	cfg.SASL = &SASLConfig{Mechanisms: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, Lookup: testLookup(t),
		Timeout: 10 * time.Second, FailureDelay: 10 * time.Millisecond}
	return cfg
}

// kafkaConn is a test client speaking raw frames.
type kafkaConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func newKafkaConn(t *testing.T, c net.Conn) *kafkaConn {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &kafkaConn{t: t, c: c}
}

// call sends req and decodes the answer into resp; an error is a closed
// or broken connection.
func (k *kafkaConn) call(req kmsg.Request) (kmsg.Response, error) {
	k.corr++
	id := "sasl-test"
	b := AppendRequestHeader([]byte{0, 0, 0, 0}, req.Key(), req.GetVersion(), k.corr, &id, req.IsFlexible())
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := k.c.Write(b); err != nil {
		return nil, err
	}
	body, err := k.readRaw()
	if err != nil {
		return nil, err
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != k.corr {
		k.t.Fatalf("answer %x does not carry correlation id %d", body, k.corr)
	}
	body = body[4:]
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		k.t.Fatalf("decoding %s answer: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func (k *kafkaConn) mustCall(req kmsg.Request) kmsg.Response {
	k.t.Helper()
	resp, err := k.call(req)
	if err != nil {
		k.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// writeRaw sends a size-prefixed raw SASL token.
func (k *kafkaConn) writeRaw(token []byte) error {
	_, err := k.c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...))
	return err
}

func (k *kafkaConn) readRaw() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(k.c, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(k.c, b)
	return b, err
}

// served checks that the connection answers a request.
func (k *kafkaConn) served() {
	k.t.Helper()
	if _, err := k.c.Write(unknownAPIVersions(0)); err != nil {
		k.t.Fatalf("not served: %v", err)
	}
	if _, err := k.readRaw(); err != nil {
		k.t.Fatalf("not served: %v", err)
	}
}

// closed checks that the server closes the connection (after any answers
// still in flight).
func (k *kafkaConn) closed() {
	k.t.Helper()
	for {
		if _, err := k.readRaw(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				k.t.Fatalf("waiting for the server to close: %v", err)
			}
			return
		}
	}
}

func handshake(v int16, mechanism string) *kmsg.SASLHandshakeRequest {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = v, mechanism
	return req
}

func authenticate(v int16, token []byte) *kmsg.SASLAuthenticateRequest {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = v, token
	return req
}

// authV1 runs SaslHandshake v1 and SaslAuthenticate (version v) with
// franz-go's client side of mech, returning the last answer or the error
// code that ended it.
func (k *kafkaConn) authV1(mech sasl.Mechanism, v int16) (*kmsg.SASLAuthenticateResponse, error) {
	k.t.Helper()
	hs := k.mustCall(handshake(1, mech.Name())).(*kmsg.SASLHandshakeResponse)
	if err := kerr.ErrorForCode(hs.ErrorCode); err != nil {
		return nil, err
	}
	session, token, err := mech.Authenticate(context.Background(), "")
	if err != nil {
		k.t.Fatal(err)
	}
	for {
		resp := k.mustCall(authenticate(v, token)).(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return resp, err
		}
		done, next, err := session.Challenge(resp.SASLAuthBytes)
		if err != nil {
			k.t.Fatalf("client rejects the server's answer: %v", err)
		}
		if done {
			return resp, nil
		}
		token = next
	}
}

// authV0 runs SaslHandshake v0 and raw tokens, as kafka-python does.
func (k *kafkaConn) authV0(mech sasl.Mechanism) error {
	k.t.Helper()
	hs := k.mustCall(handshake(0, mech.Name())).(*kmsg.SASLHandshakeResponse)
	if err := kerr.ErrorForCode(hs.ErrorCode); err != nil {
		return err
	}
	session, token, err := mech.Authenticate(context.Background(), "")
	if err != nil {
		k.t.Fatal(err)
	}
	for {
		if err := k.writeRaw(token); err != nil {
			return err
		}
		answer, err := k.readRaw()
		if err != nil {
			return err
		}
		done, next, err := session.Challenge(answer)
		if err != nil {
			k.t.Fatalf("client rejects the server's answer: %v", err)
		}
		if done {
			return nil
		}
		token = next
	}
}

func mechanisms(user string) []sasl.Mechanism {
	pw := testPasswords[user]
	if pw == "" {
		pw = "wrong"
	}
	return []sasl.Mechanism{
		plain.Auth{User: user, Pass: pw}.AsMechanism(),
		scram.Auth{User: user, Pass: pw}.AsSha256Mechanism(),
		scram.Auth{User: user, Pass: pw}.AsSha512Mechanism(),
	}
}

func TestSASLAuthenticates(t *testing.T) {
	var logs logBuffer
	_, addr := startServer(t, saslConfig(t, logs.logger()))
	for _, mech := range mechanisms("alice") {
		for _, v := range []int16{0, 1, 2} {
			k := newKafkaConn(t, dialServer(t, addr))
			if _, err := k.authV1(mech, v); err != nil {
				t.Fatalf("%s via SaslAuthenticate v%d: %v", mech.Name(), v, err)
			}
			k.served()
		}
		k := newKafkaConn(t, dialServer(t, addr))
		if err := k.authV0(mech); err != nil {
			t.Fatalf("%s with raw tokens: %v", mech.Name(), err)
		}
		k.served()
		logs.waitLog(t, "SASL authentication succeeded", "principal=User:alice", "mechanism="+mech.Name())
	}
	// kafka-python and librdkafka send ApiVersions before the handshake;
	// at a version the server answers itself here (no broker).
	k := newKafkaConn(t, dialServer(t, addr))
	k.served()
	if _, err := k.authV1(mechanisms("bob")[1], 2); err != nil {
		t.Fatal(err)
	}
	k.served()
}

func TestSASLRefuses(t *testing.T) {
	var logs logBuffer
	_, addr := startServer(t, saslConfig(t, logs.logger()))
	for _, tc := range []struct {
		name    string
		mech    sasl.Mechanism
		wantMsg string
	}{
		{"plain wrong password", plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), "invalid credentials with SASL mechanism PLAIN"},
		{"plain unknown user", mechanisms("mallory")[0], "invalid credentials with SASL mechanism PLAIN"},
		{"scram wrong password", scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(), "invalid credentials with SASL mechanism SCRAM-SHA-512"},
		{"scram unknown user", mechanisms("mallory")[1], "invalid credentials with SASL mechanism SCRAM-SHA-256"},
		{"scram delegation token", scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}.AsSha256Mechanism(), "tokenauth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKafkaConn(t, dialServer(t, addr))
			resp, err := k.authV1(tc.mech, 2)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, tc.wantMsg) {
				t.Fatalf("got %v (%+v), want SASL_AUTHENTICATION_FAILED with %q", err, resp, tc.wantMsg)
			}
			k.closed()
			// Raw tokens: the failure closes the connection unanswered.
			k = newKafkaConn(t, dialServer(t, addr))
			if err := k.authV0(tc.mech); err == nil {
				t.Fatal("raw exchange succeeded")
			}
		})
	}
	logs.waitLog(t, "SASL authentication failed", "remote=127.0.0.1:", "user=mallory")
	logs.waitLog(t, "SASL authentication failed", "user=alice", "mechanism=SCRAM-SHA-512")
	// Meanwhile the server keeps serving everyone else.
	k := newKafkaConn(t, dialServer(t, addr))
	if _, err := k.authV1(mechanisms("alice")[2], 2); err != nil {
		t.Fatal(err)
	}
	k.served()
}

func TestSASLUnsupportedMechanism(t *testing.T) {
	cfg := saslConfig(t, slog.New(slog.DiscardHandler))
	cfg.SASL.Mechanisms = []string{"SCRAM-SHA-512"}
	_, addr := startServer(t, cfg)
	for _, v := range []int16{0, 1} {
		k := newKafkaConn(t, dialServer(t, addr))
		hs := k.mustCall(handshake(v, "PLAIN")).(*kmsg.SASLHandshakeResponse)
		if hs.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(hs.SupportedMechanisms, ",") != "SCRAM-SHA-512" {
			t.Fatalf("v%d: %+v", v, hs)
		}
		k.closed()
	}
}

// TestSASLOutOfOrder sends what a client may not before it authenticates.
func TestSASLOutOfOrder(t *testing.T) {
	_, addr := startServer(t, saslConfig(t, slog.New(slog.DiscardHandler)))

	// Any other API first: closed unanswered.
	k := newKafkaConn(t, dialServer(t, addr))
	if _, err := k.call(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("Metadata answered before authentication")
	}

	// SaslAuthenticate before SaslHandshake.
	k = newKafkaConn(t, dialServer(t, addr))
	resp := k.mustCall(authenticate(1, []byte("\x00alice\x00alice-secret"))).(*kmsg.SASLAuthenticateResponse)
	if resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate before handshake: %+v", resp)
	}
	k.closed()

	// Another request in the middle of the exchange.
	k = newKafkaConn(t, dialServer(t, addr))
	k.mustCall(handshake(1, "SCRAM-SHA-256"))
	hs := k.mustCall(handshake(1, "SCRAM-SHA-256")).(*kmsg.SASLHandshakeResponse)
	if hs.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("second handshake mid-exchange: %+v", hs)
	}
	k.closed()

	// Once authenticated, SaslAuthenticate out of an exchange would reach
	// the broker (ILLEGAL_SASL_STATE there); a client that never sent
	// SaslAuthenticate v1+ cannot re-authenticate.
}

// TestSASLStalledExchangeTimesOut starts exchanges that never finish: each
// is closed once the authentication timeout passes, while another client
// authenticates and is served meanwhile.
func TestSASLStalledExchangeTimesOut(t *testing.T) {
	var logs logBuffer
	cfg := saslConfig(t, logs.logger())
	cfg.SASL.Timeout = 500 * time.Millisecond
	_, addr := startServer(t, cfg)
	silent := newKafkaConn(t, dialServer(t, addr))
	midway := newKafkaConn(t, dialServer(t, addr))
	midway.mustCall(handshake(1, "SCRAM-SHA-256"))
	half := newKafkaConn(t, dialServer(t, addr))
	half.c.Write([]byte{0, 0, 1}) // half a frame size
	ok := newKafkaConn(t, dialServer(t, addr))
	if _, err := ok.authV1(mechanisms("alice")[1], 2); err != nil {
		t.Fatal(err)
	}
	silent.closed()
	midway.closed()
	half.closed()
	ok.served()
	logs.waitLog(t, "SASL authentication did not finish in time", "remote=127.0.0.1:")
}

// TestSASLReauthentication covers KIP-368: the session lifetime is
// announced, the client re-authenticates on the same connection (same
// principal and mechanism only), and a request after the session ended
// without that closes the connection.
func TestSASLReauthentication(t *testing.T) {
	var logs logBuffer
	cfg := saslConfig(t, logs.logger())
	const lifetime = 400 * time.Millisecond
	cfg.SASL.MaxReauth = lifetime
	_, addr := startServer(t, cfg)
	alice := mechanisms("alice")

	k := newKafkaConn(t, dialServer(t, addr))
	resp, err := k.authV1(alice[1], 1)
	if err != nil || resp.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("authenticating: %v, lifetime %d", err, resp.SessionLifetimeMillis)
	}
	for range 3 { // across expiries
		time.Sleep(lifetime)
		if resp, err := k.authV1(alice[1], 2); err != nil || resp.SessionLifetimeMillis != lifetime.Milliseconds() {
			t.Fatalf("re-authenticating: %v", err)
		}
		k.served()
	}
	logs.waitLog(t, "SASL re-authentication succeeded", "principal=User:alice")

	// Another principal or mechanism: refused, closed.
	for _, mech := range []sasl.Mechanism{mechanisms("bob")[1], alice[2]} {
		k := newKafkaConn(t, dialServer(t, addr))
		if _, err := k.authV1(alice[1], 2); err != nil {
			t.Fatal(err)
		}
		if _, err := k.authV1(mech, 2); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("re-authenticating with %s: %v", mech.Name(), err)
		}
		k.closed()
	}

	// No re-authentication: served until the session ends, then closed.
	k = newKafkaConn(t, dialServer(t, addr))
	if _, err := k.authV1(alice[0], 2); err != nil {
		t.Fatal(err)
	}
	k.served()
	time.Sleep(lifetime)
	k.c.Write(unknownAPIVersions(0))
	k.closed()

	// A v0 SaslAuthenticate client cannot re-authenticate: the handshake
	// goes to the broker (ILLEGAL_SASL_STATE there), and its session ends
	// all the same.
	k = newKafkaConn(t, dialServer(t, addr))
	if err := k.authV0(alice[2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lifetime)
	k.c.Write(unknownAPIVersions(0))
	k.closed()
}

func TestSASLConfigValidate(t *testing.T) {
	for _, mod := range []func(*SASLConfig){
		func(c *SASLConfig) { c.Mechanisms = nil },
		func(c *SASLConfig) { c.Mechanisms = []string{"GSSAPI"} },
		func(c *SASLConfig) { c.Lookup = nil },
		func(c *SASLConfig) { c.Timeout = 0 },
		func(c *SASLConfig) { c.MaxReauth = -1 },
	} {
		cfg := saslConfig(t, slog.New(slog.DiscardHandler))
		mod(cfg.SASL)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v accepted", cfg.SASL)
		}
	}
}
