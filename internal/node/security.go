package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/server"
)

// failedAuthenticationDelay is Kafka's connection.failed.authentication.delay.ms
// default: a failed authentication is answered this late, so guessing is
// slow.
const failedAuthenticationDelay = 100 * time.Millisecond

// listenerSecurity adds the Kafka listener's TLS (from the node's
// certificate files) and SASL (sasl.enabled.mechanisms) to its config:
// neither, PLAINTEXT; TLS, SSL; SASL, SASL_PLAINTEXT; both, SASL_SSL.
func (n *Node) listenerSecurity(cfg *server.Config, settings config.BrokerConfig) {
	ms := func(name string) time.Duration {
		return time.Duration(max(0, settings.Int(name))) * time.Millisecond
	}
	authTimeout := ms("eddy.sasl.authentication.timeout.ms")
	if n.cfg.TLSCert != "" || n.cfg.TLSKey != "" || n.cfg.TLSClientCA != "" {
		// A handshake is bounded as a request is, or else as an
		// authentication.
		handshake := ms("eddy.request.read.timeout.ms")
		if handshake == 0 {
			handshake = authTimeout
		}
		cfg.TLS = &server.TLSConfig{CertFile: n.cfg.TLSCert, KeyFile: n.cfg.TLSKey, ClientCAFile: n.cfg.TLSClientCA,
			HandshakeTimeout: handshake}
	}
	if mechs := settings.SASLMechanisms(); len(mechs) > 0 {
		cfg.SASL = &server.SASLConfig{Mechanisms: mechs, Lookup: n.scramLookup(), MaxReauth: ms("connections.max.reauth.ms"),
			Timeout: authTimeout, FailureDelay: failedAuthenticationDelay}
	}
}

// scramLookup is the listener's view of the users' SCRAM credentials.
// Until the user store lands nobody has any, so SASL refuses everyone.
func (n *Node) scramLookup() auth.Lookup {
	return func(string, auth.Mechanism) (auth.Credential, bool) { return auth.Credential{}, false }
}

// peerTLS is the TLS the node's replica client (follower fetches,
// transaction markers) speaks to the other nodes' Kafka listeners, nil when
// this node has no TLS. Nodes share their certificates, so it trusts every
// certificate in the node's own certificate file, the client CA and the
// system roots, and it presents the node's certificate, which a listener
// with a client CA requires.
func (n *Node) peerTLS() (*tls.Config, error) {
	if n.cfg.TLSCert == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range []string{n.cfg.TLSCert, n.cfg.TLSClientCA} {
		if f == "" {
			continue
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("node: peer TLS: %w", err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("node: peer TLS: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}
