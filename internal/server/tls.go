package server

// TLS on the Kafka listener. The certificate, key and client CA are read
// from files and read again when those change, so a certificate is rotated
// by replacing its files: handshakes look at the files' modification times
// and sizes at most once per tlsReloadInterval, and a new set that does not
// load (a key written before its certificate, say) keeps the old one and
// is logged until it loads.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// tlsReloadInterval bounds how often handshakes look at the files.
const tlsReloadInterval = time.Second

// defaultHandshakeTimeout bounds a TLS handshake when the config gives no
// bound.
const defaultHandshakeTimeout = 10 * time.Second

// TLSConfig turns TLS on for the listener.
type TLSConfig struct {
	CertFile, KeyFile string // PEM
	// ClientCAFile, if set, makes client certificates required and
	// verified against these CAs (mTLS); the principal of such a
	// connection is "User:<subject CN>" unless SASL names another.
	ClientCAFile string
	// HandshakeTimeout bounds the TLS handshake; 0 means
	// defaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// certReloader hands each handshake the current tls.Config, rebuilt when
// the files change.
type certReloader struct {
	files TLSConfig
	rl    *rateLog
	cur   atomic.Pointer[tls.Config]
	next  atomic.Int64 // unix nanos before which the files are not looked at

	// reload is held by the one handshake that looks at the files; the
	// others use the current config meanwhile.
	reload struct {
		sync.Mutex
		stamps []fileStamp // of the files last tried, loaded or not
	}
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
	err  bool
}

func newCertReloader(files TLSConfig, rl *rateLog) (*certReloader, error) {
	r := &certReloader{files: files, rl: rl}
	r.reload.stamps = r.stamp()
	cfg, err := loadTLS(files)
	if err != nil {
		return nil, err
	}
	r.cur.Store(cfg)
	r.next.Store(time.Now().Add(tlsReloadInterval).UnixNano())
	return r, nil
}

// serverConfig is the listener's tls.Config: each handshake gets the
// current one.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.maybeReload()
			return r.cur.Load(), nil
		},
	}
}

func (r *certReloader) maybeReload() {
	now := time.Now()
	if now.UnixNano() < r.next.Load() || !r.reload.TryLock() {
		return
	}
	defer r.reload.Unlock()
	r.next.Store(now.Add(tlsReloadInterval).UnixNano())
	stamps := r.stamp()
	if equalStamps(stamps, r.reload.stamps) {
		return
	}
	r.reload.stamps = stamps
	cfg, err := loadTLS(r.files)
	if err != nil {
		r.rl.warn("tls_reload", "TLS files changed but do not load; keeping the previous certificate", "err", err)
		return
	}
	r.cur.Store(cfg)
	r.rl.info("tls_reloaded", "TLS certificate reloaded", "cert", r.files.CertFile)
}

func (r *certReloader) stamp() []fileStamp {
	var out []fileStamp
	for _, name := range []string{r.files.CertFile, r.files.KeyFile, r.files.ClientCAFile} {
		if name == "" {
			continue
		}
		fi, err := os.Stat(name)
		if err != nil {
			out = append(out, fileStamp{err: true})
			continue
		}
		out = append(out, fileStamp{mod: fi.ModTime(), size: fi.Size()})
	}
	return out
}

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].mod.Equal(b[i].mod) || a[i].size != b[i].size || a[i].err != b[i].err {
			return false
		}
	}
	return true
}

// loadTLS reads the files into the config handshakes use: TLS 1.2 or
// newer, and with a client CA, verified client certificates required.
func loadTLS(files TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server: loading TLS certificate %s and key %s: %w", files.CertFile, files.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if files.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(files.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("server: reading TLS client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server: TLS client CA %s holds no PEM certificate", files.ClientCAFile)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return cfg, nil
}

// handshake runs the TLS handshake within its timeout and takes the
// principal from a client certificate. A client speaking plaintext to
// this port is named as such in the log.
func (c *conn) handshake(ctx context.Context, tc *tls.Conn) error {
	d := c.s.cfg.TLS.HandshakeTimeout
	if d <= 0 {
		d = defaultHandshakeTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := tc.HandshakeContext(hctx)
	remote := c.c.RemoteAddr().String()
	var rh tls.RecordHeaderError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		c.log.Debug("kafka connection closed during the TLS handshake")
		return err
	case errors.As(err, &rh):
		c.s.metrics.authFailed("TLS")
		c.s.rl.warn("tls_mismatch", "closing kafka connection: client is not speaking TLS to this TLS listener (configured for PLAINTEXT?)", "remote", remote)
		return err
	default:
		c.s.metrics.authFailed("TLS")
		c.s.rl.warn("tls_handshake", "closing kafka connection: TLS handshake failed", "remote", remote, "err", err)
		return err
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		c.principal = "User:" + certs[0].Subject.CommonName
		c.log.Debug("TLS client authenticated", "principal", c.principal)
	}
	return nil
}

// looksLikeTLS reports whether a frame size is really the start of a TLS
// record (handshake, version 3.x): a TLS client on a plaintext port.
func looksLikeTLS(size int32) bool { return uint32(size)>>16 == 0x1603 }

// ReloadingTLS returns a server tls.Config over the files, reloaded when
// they change as the Kafka listener's is, for the node's other listeners
// (HTTP) that take the same certificate.
func ReloadingTLS(files TLSConfig, log *slog.Logger) (*tls.Config, error) {
	r, err := newCertReloader(files, newRateLog(log))
	if err != nil {
		return nil, err
	}
	return r.serverConfig(), nil
}
