package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

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
		cfg.SASL = &server.SASLConfig{Mechanisms: mechs, Lookup: n.scramCredential, MaxReauth: ms("connections.max.reauth.ms"),
			Timeout: authTimeout, FailureDelay: failedAuthenticationDelay}
	}
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

// peerSASL is how the replica client authenticates to the other nodes when
// their listeners require SASL: as the bootstrap user, which every node of
// a cluster is given (EDDY_BOOTSTRAP_USER), with the strongest mechanism
// enabled. Without a bootstrap user the nodes cannot authenticate to each
// other, and followers cannot fetch: that is logged.
func (n *Node) peerSASL(settings config.BrokerConfig) sasl.Mechanism {
	mechs := settings.SASLMechanisms()
	if len(mechs) == 0 {
		return nil
	}
	user, password, err := parseBootstrapUser(n.cfg.BootstrapUser)
	if err != nil {
		n.log.Warn("SASL is on but this node has no bootstrap user (EDDY_BOOTSTRAP_USER): it cannot authenticate to the other nodes to replicate")
		return nil
	}
	for _, m := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", auth.PLAIN} {
		if !slices.Contains(mechs, m) {
			continue
		}
		a := scram.Auth{User: user, Pass: password}
		switch m {
		case "SCRAM-SHA-512":
			return a.AsSha512Mechanism()
		case "SCRAM-SHA-256":
			return a.AsSha256Mechanism()
		}
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	}
	return nil
}
