package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/node"
)

// certs is a CA made for one test and the files of the certificates it
// issued.
type certs struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
	serial int64
}

func newCerts(t *testing.T) *certs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eddy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	c := &certs{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool(), serial: 1}
	c.pool.AddCert(ca)
	c.caFile = filepath.Join(c.dir, "ca.pem")
	writePEMFile(t, c.caFile, "CERTIFICATE", der)
	return c
}

// issue writes name.pem and name-key.pem, a certificate for cn valid for
// localhost and 127.0.0.1, as server or client.
func (c *certs) issue(t *testing.T, name, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(c.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(c.dir, name+".pem"), filepath.Join(c.dir, name+"-key.pem")
	writePEMFile(t, certFile, "CERTIFICATE", der)
	writePEMFile(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEMFile(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientTLS trusts the CA and presents certFile if given.
func (c *certs) clientTLS(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: c.pool, ServerName: "localhost"}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func withTLS(cert, key, ca string) func(*node.Config) {
	return func(c *node.Config) { c.TLSCert, c.TLSKey, c.TLSClientCA = cert, key, ca }
}

// produceConsume produces n records of about size bytes over opts and
// reads them back from the start, checking each.
func produceConsume(t *testing.T, addr, topic string, n, size int, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, opts...)...)
	ctx := testContext(t)
	pad := strings.Repeat("x", size)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%06d %s", i, pad))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := consumeExactly(t, addr, topic, n, opts...)
	for i, r := range got {
		if want := fmt.Sprintf("%06d %s", i, pad); string(r.Value) != want {
			t.Fatalf("record %d: %.20q..., want %.20q...", i, r.Value, want)
		}
	}
}

// TestTLSProduceConsume produces and consumes over TLS with franz-go,
// records large enough that fetches copy many segment bytes through the
// TLS layer (no sendfile there).
func TestTLSProduceConsume(t *testing.T) {
	c := newCerts(t)
	cert, key := c.issue(t, "server", "localhost")
	tn := startNode(t, "", nil, withTLS(cert, key, ""))
	produceConsume(t, tn.KafkaAddr(), "tls", 2000, 1000, kgo.DialTLSConfig(c.clientTLS(t, "", "")))

	// A plaintext client gets nowhere, and the log names it.
	cl := newClient(t, tn.KafkaAddr(), kgo.RetryTimeout(time.Second))
	if err := cl.Ping(testContext(t)); err == nil {
		t.Fatal("plaintext client served by a TLS listener")
	}
	if !strings.Contains(tn.logs.String(), "not speaking TLS to this TLS listener") {
		t.Fatalf("no log line about the plaintext client:\n%s", tn.logs.String())
	}
}

// TestMutualTLSNode requires client certificates: one from the CA is
// served, none is refused.
func TestMutualTLSNode(t *testing.T) {
	c := newCerts(t)
	cert, key := c.issue(t, "server", "localhost")
	tn := startNode(t, "", nil, withTLS(cert, key, c.caFile))
	cc, ck := c.issue(t, "alice", "alice")
	produceConsume(t, tn.KafkaAddr(), "mtls", 100, 10, kgo.DialTLSConfig(c.clientTLS(t, cc, ck)))
	if !strings.Contains(tn.logs.String(), "principal=User:alice") {
		t.Fatalf("no principal User:alice in the log:\n%s", tn.logs.String())
	}
	cl := newClient(t, tn.KafkaAddr(), kgo.DialTLSConfig(c.clientTLS(t, "", "")), kgo.RetryTimeout(time.Second))
	if err := cl.Ping(testContext(t)); err == nil {
		t.Fatal("client without a certificate served under mTLS")
	}
}

// TestTLSCluster runs three nodes whose Kafka listeners require TLS with
// client certificates, sharing one certificate: followers fetch from
// leaders over TLS, so acks=all records reach every replica and the ISR
// stays full.
func TestTLSCluster(t *testing.T) {
	c := newCerts(t)
	cert, key := c.issue(t, "node", "eddy-node")
	tc := newTestCluster(t, 3, withTLS(cert, key, c.caFile))
	if t.Failed() {
		t.FailNow()
	}
	cc, ck := c.issue(t, "client", "client")
	dial := kgo.DialTLSConfig(c.clientTLS(t, cc, ck))
	adm := kadm.NewClient(newClient(t, tc.cfgs[0].KafkaAddr, dial, kgo.SeedBrokers(tc.seeds()...)))
	createTopicRF(t, adm, "tls-replicated", 3, 3, nil)
	cl := newClient(t, tc.cfgs[0].KafkaAddr, dial, kgo.SeedBrokers(tc.seeds()...), kgo.DefaultProduceTopic("tls-replicated"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := testContext(t)
	for i := range 300 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	waitFor(t, "every partition's ISR to hold all 3 replicas", func() bool {
		md, err := adm.Metadata(ctx, "tls-replicated")
		if err != nil {
			return false
		}
		for _, p := range md.Topics["tls-replicated"].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	got := consumeExactly(t, tc.cfgs[2].KafkaAddr, "tls-replicated", 300, dial, kgo.SeedBrokers(tc.seeds()...))
	if len(got) != 300 {
		t.Fatalf("consumed %d records", len(got))
	}
}
