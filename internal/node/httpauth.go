package node

// The HTTP listener's security, the same as the Kafka listener's: TLS from
// the node's certificate files (with a client CA, client certificates are
// required and name the principal), and, when SASL is on, HTTP basic auth
// against the SCRAM users. Profiles (pprof) reveal internals: they are
// served on a loopback listener, or else to super users only.

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/server"
)

// httpAuth authenticates HTTP requests.
type httpAuth struct {
	lookup     auth.Lookup
	lookupOpen func() bool // lookup may be called: the metadata is open
	basic      bool        // SASL is on: basic auth required
	superUsers []string
	delay      time.Duration // before a failure's answer, as SASL's
	logged     atomic.Int64  // unix nanos of the last failure logged
	log        func(msg string, args ...any)
	failures   prometheus.Counter // eddy_authentication_failures_total{listener="http",mechanism="BASIC"}

	// verified remembers passwords already checked (PBKDF2 is slow on
	// purpose): user → the hash of the password and the stored key it
	// matched, so a changed credential is checked again.
	mu       sync.Mutex
	verified map[string]verifiedPassword
}

type verifiedPassword struct {
	password  [32]byte
	storedKey []byte
}

func (n *Node) newHTTPAuth(settings config.BrokerConfig) *httpAuth {
	return &httpAuth{lookup: n.scramCredential, lookupOpen: func() bool { return n.ready.at(phaseRecovering) }, basic: len(settings.SASLMechanisms()) > 0,
		superUsers: settings.SuperUsers(), delay: failedAuthenticationDelay,
		log: n.log.Warn, verified: map[string]verifiedPassword{},
		failures: server.AuthFailureCounter(n.registerer(), "http", "BASIC")}
}

// httpTLS is the HTTP listener's TLS, nil without certificate files.
func (n *Node) httpTLS() (*tls.Config, error) {
	if n.cfg.TLSCert == "" {
		return nil, nil
	}
	return server.ReloadingTLS(server.TLSConfig{CertFile: n.cfg.TLSCert, KeyFile: n.cfg.TLSKey, ClientCAFile: n.cfg.TLSClientCA}, n.log)
}

// wrap guards h: a request without valid credentials (when basic auth is
// required) gets 401, or 503 while the users cannot be looked up yet (the
// HTTP listener starts before the metadata opens); unless pprofOpen (a
// loopback listener, or one that serves no profiles), pprof paths also
// need a super user.
func (a *httpAuth) wrap(h http.Handler, pprofOpen bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.basic && !a.lookupOpen() {
			http.Error(w, "not ready: the users are not loaded yet", http.StatusServiceUnavailable)
			return
		}
		principal, ok := a.principal(r)
		if !ok {
			a.refuse(w, r)
			return
		}
		if isPprof(r.URL.Path) && !pprofOpen && !slices.Contains(a.superUsers, principal) {
			http.Error(w, "profiles are served on a loopback listener or to super users", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isPprof(path string) bool { return len(path) >= 12 && path[:12] == "/debug/pprof" }

// principal names the request's principal: the basic auth user when basic
// auth is on (false if the credentials are wrong or missing), else the
// client certificate's CN, else anonymous.
func (a *httpAuth) principal(r *http.Request) (string, bool) {
	if a.basic {
		user, password, ok := r.BasicAuth()
		if !ok || !a.check(user, password) {
			return "", false
		}
		return "User:" + user, true
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "User:" + r.TLS.PeerCertificates[0].Subject.CommonName, true
	}
	return broker.AnonymousPrincipal, true
}

// check verifies a password against the user's SCRAM credential, as
// SASL/PLAIN does.
func (a *httpAuth) check(user, password string) bool {
	cred, found := auth.PasswordCredential(a.lookup, user)
	if !found {
		cred.VerifyPassword(password) // as long as for a known user
		return false
	}
	sum := sha256.Sum256([]byte(password))
	a.mu.Lock()
	v, ok := a.verified[user]
	a.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(v.storedKey, cred.StoredKey) == 1 && subtle.ConstantTimeCompare(v.password[:], sum[:]) == 1 {
		return true
	}
	if !cred.VerifyPassword(password) {
		return false
	}
	a.mu.Lock()
	a.verified[user] = verifiedPassword{password: sum, storedKey: cred.StoredKey}
	a.mu.Unlock()
	return true
}

// refuse answers 401 after the failure delay, logging at most one failure
// a second with the peer.
func (a *httpAuth) refuse(w http.ResponseWriter, r *http.Request) {
	a.failures.Inc()
	now := time.Now().UnixNano()
	if last := a.logged.Load(); now-last > int64(time.Second) && a.logged.CompareAndSwap(last, now) {
		user, _, _ := r.BasicAuth()
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a.log("http authentication failed", "remote", host, "user", user, "path", r.URL.Path)
	}
	select {
	case <-time.After(a.delay):
	case <-r.Context().Done():
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="eddy", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}
