package server

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/testpki"
)

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func tlsConfig(log *slog.Logger, certFile, keyFile, caFile string) Config {
	cfg := testConfig(log)
	cfg.TLS = &TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}
	return cfg
}

func TestTLSServes(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	_, addr := startServer(t, tlsConfig(slog.New(slog.DiscardHandler), cert, key, ""))
	c, err := dialTLS(t, addr, pki.ClientTLS(t, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", v)
	}
	newKafkaConn(t, c).served()

	// TLS 1.1 and older are refused.
	old := pki.ClientTLS(t, "", "")
	old.MaxVersion = tls.VersionTLS11
	if _, err := dialTLS(t, addr, old); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestMutualTLSPrincipal(t *testing.T) {
	var logs logBuffer
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	_, addr := startServer(t, tlsConfig(logs.logger(), cert, key, pki.File))

	// No client certificate: refused during or right after the handshake.
	if c, err := dialTLS(t, addr, pki.ClientTLS(t, "", "")); err == nil {
		k := newKafkaConn(t, c)
		if _, err := k.c.Write(unknownAPIVersions(0)); err == nil {
			if _, err := k.readRaw(); err == nil {
				t.Fatal("served without a client certificate")
			}
		}
	}
	// A certificate from another CA: refused too.
	other := testpki.New(t)
	oc, ok := other.Issue(t, "mallory", "mallory")
	if c, err := dialTLS(t, addr, pki.ClientTLS(t, oc, ok)); err == nil {
		k := newKafkaConn(t, c)
		k.c.Write(unknownAPIVersions(0))
		if _, err := k.readRaw(); err == nil {
			t.Fatal("served with a certificate of another CA")
		}
	}
	logs.waitLog(t, "TLS handshake failed", "remote=127.0.0.1:")

	cc, ck := pki.Issue(t, "alice", "alice")
	c, err := dialTLS(t, addr, pki.ClientTLS(t, cc, ck))
	if err != nil {
		t.Fatal(err)
	}
	newKafkaConn(t, c).served()
	logs.waitLog(t, "TLS client authenticated", "principal=User:alice")
}

// TestTLSCertificateRotation replaces the server's certificate files: new
// handshakes get the new certificate without a restart; a new file that
// does not load keeps the old certificate and is logged.
func TestTLSCertificateRotation(t *testing.T) {
	var logs logBuffer
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	_, addr := startServer(t, tlsConfig(logs.logger(), cert, key, ""))
	served := func() *x509.Certificate {
		c, err := dialTLS(t, addr, pki.ClientTLS(t, "", ""))
		if err != nil {
			t.Fatal(err)
		}
		newKafkaConn(t, c).served()
		return c.ConnectionState().PeerCertificates[0]
	}
	first := served()

	// A broken certificate: the old one stays.
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs.waitLogWhile(t, func() { served() }, "TLS files changed but do not load")
	if got := served(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("serving serial %v after a broken file, want %v", got.SerialNumber, first.SerialNumber)
	}

	// A good new pair, written over the old files.
	nc, nk := pki.Issue(t, "rotated", "localhost")
	for _, f := range [][2]string{{nc, cert}, {nk, key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "the rotated certificate", func() bool { return served().SerialNumber.Cmp(first.SerialNumber) != 0 })
	logs.waitLog(t, "TLS certificate reloaded")
}

// waitLogWhile repeats action until the log holds parts.
func (b *logBuffer) waitLogWhile(t *testing.T, action func(), parts ...string) {
	t.Helper()
	done := false
	poll(t, "log line "+parts[0], func() bool {
		if done {
			return true
		}
		action()
		for _, p := range parts {
			if !strings.Contains(b.String(), p) {
				return false
			}
		}
		done = true
		return true
	})
}

// TestTLSMismatch connects plaintext to the TLS listener and TLS to a
// plaintext one: each is closed, with a log line naming the peer.
func TestTLSMismatch(t *testing.T) {
	var logs logBuffer
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	_, tlsAddr := startServer(t, tlsConfig(logs.logger(), cert, key, ""))
	_, plainAddr := startServer(t, testConfig(logs.logger()))

	k := newKafkaConn(t, dialServer(t, tlsAddr))
	k.c.Write(unknownAPIVersions(0))
	k.closed()
	logs.waitLog(t, "not speaking TLS to this TLS listener", "remote=127.0.0.1:")

	raw := dialServer(t, plainAddr)
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tls.Client(raw, pki.ClientTLS(t, "", "")).Handshake(); err == nil {
		t.Fatal("TLS handshake with a plaintext listener succeeded")
	}
	logs.waitLog(t, "speaking TLS to this plaintext listener", "remote=127.0.0.1:")
	// Both keep serving.
	newKafkaConn(t, dialServer(t, plainAddr)).served()
	c, err := dialTLS(t, tlsAddr, pki.ClientTLS(t, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	newKafkaConn(t, c).served()
}

// TestTLSHandshakeTimeout opens connections that never finish the
// handshake: they are closed at the timeout, others are served meanwhile.
func TestTLSHandshakeTimeout(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	cfg := tlsConfig(slog.New(slog.DiscardHandler), cert, key, "")
	cfg.TLS.HandshakeTimeout = 300 * time.Millisecond
	_, addr := startServer(t, cfg)
	silent := newKafkaConn(t, dialServer(t, addr))
	partial := newKafkaConn(t, dialServer(t, addr))
	partial.c.Write([]byte{0x16, 0x03, 0x01, 0x00}) // a record header, cut short
	c, err := dialTLS(t, addr, pki.ClientTLS(t, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	newKafkaConn(t, c).served()
	silent.closed()
	partial.closed()
}

// TestSASLOverTLS is SASL_SSL with mTLS: the SASL principal wins.
func TestSASLOverTLS(t *testing.T) {
	var logs logBuffer
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	cfg := saslConfig(t, logs.logger())
	cfg.TLS = &TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: pki.File}
	_, addr := startServer(t, cfg)
	cc, ck := pki.Issue(t, "carol", "carol")
	c, err := dialTLS(t, addr, pki.ClientTLS(t, cc, ck))
	if err != nil {
		t.Fatal(err)
	}
	k := newKafkaConn(t, c)
	if _, err := k.authV1(mechanisms("bob")[2], 2); err != nil {
		t.Fatal(err)
	}
	k.served()
	logs.waitLog(t, "SASL authentication succeeded", "principal=User:bob")

	c, err = dialTLS(t, addr, pki.ClientTLS(t, cc, ck))
	if err != nil {
		t.Fatal(err)
	}
	k = newKafkaConn(t, c)
	if err := k.authV0(mechanisms("alice")[0]); err != nil {
		t.Fatal(err)
	}
	k.served()
}

func TestTLSConfigRefusesBadFiles(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Issue(t, "server", "localhost")
	for _, files := range [][3]string{
		{cert, "", ""},
		{cert, cert, ""},
		{cert, key, key},
		{cert, key, filepath.Join(pki.Dir, "missing.pem")},
	} {
		if _, err := New(tlsConfig(slog.New(slog.DiscardHandler), files[0], files[1], files[2]), nil); err == nil {
			t.Errorf("files %q accepted", files)
		}
	}
}
