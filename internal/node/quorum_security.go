package node

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/quorum"
)

// quorumSecurity secures the metadata quorum's connections as the Kafka
// listener is secured, so a stranger can neither join the quorum nor read
// it (docs/security.md): with the node's certificate, TLS both ways, the
// accepting member requiring a certificate signed by the client CA or
// found in the node's own certificate file (nodes share their
// certificates or their CA); with SASL on, a secret derived from the
// bootstrap user every node is given, proven in each hello.
func (n *Node) quorumSecurity(settings config.BrokerConfig) (quorum.Security, error) {
	var sec quorum.Security
	if n.cfg.TLSCert != "" {
		client, err := n.peerTLS()
		if err != nil {
			return sec, err
		}
		trusted, err := certPool(n.cfg.TLSCert, n.cfg.TLSClientCA)
		if err != nil {
			return sec, fmt.Errorf("node: quorum TLS: %w", err)
		}
		sec.ClientTLS = client
		sec.ServerTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: client.Certificates,
			ClientCAs: trusted, ClientAuth: tls.RequireAndVerifyClientCert}
	}
	if len(settings.SASLMechanisms()) > 0 && n.cfg.BootstrapUser != "" {
		sum := sha256.Sum256([]byte("eddy quorum secret\x00" + n.cfg.BootstrapUser))
		sec.Secret = sum[:]
	}
	return sec, nil
}

// certPool holds every certificate of the PEM files given (empty names
// skipped), and nothing of the system's roots.
func certPool(files ...string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			pool.AddCert(cert)
		}
	}
	return pool, nil
}
