package quorum

// Security of the quorum's connections. With TLS, every connection is
// wrapped both ways and the accepting side verifies the dialler's
// certificate (ServerTLS requires one), so a stranger cannot even speak.
// With a Secret, shared by every member, each hello (version 2) ends with
//
//	u64 unix millis | 16-byte random nonce | HMAC-SHA256(secret, hello so far)
//
// which the acceptor checks: the time within proofWindow of its own clock
// and the nonce not seen within it, so a hello recorded off a plaintext
// link cannot be replayed. Without either, the quorum is as open as a
// plaintext Kafka listener (docs/security.md).

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

const (
	helloProofVersion = 2
	proofLen          = 8 + 16 + sha256.Size
	proofWindow       = 2 * time.Minute
)

var errProof = errors.New("quorum: hello not authenticated")

// Security protects quorum connections; the zero value is plaintext and
// unauthenticated.
type Security struct {
	// ServerTLS, if set, wraps accepted connections; it should require
	// and verify client certificates (tls.RequireAndVerifyClientCert).
	ServerTLS *tls.Config
	// ClientTLS, if set, wraps dialled connections, presenting this
	// member's certificate and verifying the peer's.
	ClientTLS *tls.Config
	// Secret, if set, is a key every member holds: hellos carry a proof
	// of it, and hellos without one are refused.
	Secret []byte
}

// dial connects to addr, in TLS when configured.
func (s Security) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || s.ClientTLS == nil {
		return c, err
	}
	cfg := s.ClientTLS.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("quorum: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// accept wraps an accepted connection in TLS when configured; the
// handshake happens on its first read, under the hello's deadline.
func (s Security) accept(c net.Conn) net.Conn {
	if s.ServerTLS == nil {
		return c
	}
	return tls.Server(c, s.ServerTLS)
}

// hello returns the hello to send, with its proof when there is a secret.
func (s Security) hello(magic string, from, to uint64, cluster string) []byte {
	if len(s.Secret) == 0 {
		return appendHelloAs(nil, magic, helloVersion, from, to, cluster)
	}
	b := appendHelloAs(nil, magic, helloProofVersion, from, to, cluster)
	return s.appendProof(b, time.Now())
}

func (s Security) appendProof(hello []byte, now time.Time) []byte {
	b := binary.BigEndian.AppendUint64(hello, uint64(now.UnixMilli()))
	var nonce [16]byte
	rand.Read(nonce[:])
	b = append(b, nonce[:]...)
	m := hmac.New(sha256.New, s.Secret)
	m.Write(b)
	return m.Sum(b)
}

// replayGuard remembers the nonces of hellos accepted within proofWindow.
type replayGuard struct {
	mu   sync.Mutex
	seen map[[16]byte]time.Time // nonce → when it stops mattering
}

// checkProof reads a version 2 hello's proof from r and checks it against
// hello, the bytes read before it.
func (s Security) checkProof(r *bufio.Reader, hello []byte, guard *replayGuard, now time.Time) error {
	var p [proofLen]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return fmt.Errorf("%w: %v", errHello, err)
	}
	if len(s.Secret) == 0 {
		return fmt.Errorf("%w: it sent a proof but this member has no secret (nodes configured differently?)", errProof)
	}
	m := hmac.New(sha256.New, s.Secret)
	m.Write(hello)
	m.Write(p[:8+16])
	if !hmac.Equal(m.Sum(nil), p[8+16:]) {
		return fmt.Errorf("%w: wrong proof (a node without this cluster's credentials?)", errProof)
	}
	at := time.UnixMilli(int64(binary.BigEndian.Uint64(p[:8])))
	if d := now.Sub(at); d > proofWindow || d < -proofWindow {
		return fmt.Errorf("%w: proof made at %v, %v from this member's clock", errProof, at.UTC(), d.Round(time.Second))
	}
	return guard.once([16]byte(p[8:24]), now)
}

func (g *replayGuard) once(nonce [16]byte, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[[16]byte]time.Time{}
	}
	for n, until := range g.seen {
		if now.After(until) {
			delete(g.seen, n)
		}
	}
	if _, ok := g.seen[nonce]; ok {
		return fmt.Errorf("%w: a replayed hello", errProof)
	}
	g.seen[nonce] = now.Add(2 * proofWindow)
	return nil
}
