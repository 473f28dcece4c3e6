package quorum

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/testpki"
)

// security returns mTLS both ways with a node certificate ca signs for
// 127.0.0.1, trusting ca only.
func security(t *testing.T, ca *testpki.CA, secret []byte) Security {
	t.Helper()
	cert := ca.Pair(t, "node")
	return Security{
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		ClientTLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12},
		Secret:    secret,
	}
}

// waitRefused waits for a log line of a refused quorum connection that
// contains want.
func waitRefused(t *testing.T, logs *syncBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal mentioning %q in the logs:\n%s", want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Members with certificates from the cluster's CA and its secret form a
// quorum over TLS; a third with a certificate from another CA, or with a
// wrong secret, or with none, is refused and the two commit without it.
func TestTCPTransportSecured(t *testing.T) {
	ca, other := testpki.New(t), testpki.New(t)
	secret := []byte("cluster secret")
	for _, tc := range []struct {
		name     string
		secret   []byte // the two members'
		stranger Security
		refusal  string
	}{
		{"certificate of another CA", secret, security(t, other, secret), "TLS"},
		{"wrong secret", secret, security(t, ca, []byte("guess")), "wrong proof"},
		{"no secret", secret, security(t, ca, nil), "sent no proof"},
		{"a secret the others lack", nil, security(t, ca, secret), "has no secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuf{}
			ms := startTCPSecured(t, []string{"c", "c", "c"}, logs, 0,
				[]Security{security(t, ca, tc.secret), security(t, ca, tc.secret), tc.stranger})
			proposeRetry(t, ms[0].node, "x")
			proposeRetry(t, ms[1].node, "y")
			waitRefused(t, logs, tc.refusal)
			if got := ms[2].sm.list(); len(got) != 0 {
				t.Errorf("the stranger applied %v", got)
			}
		})
	}
	t.Run("all members", func(t *testing.T) {
		ms := startTCPSecured(t, []string{"c", "c", "c"}, &syncBuf{}, 0,
			[]Security{security(t, ca, secret), security(t, ca, secret), security(t, ca, secret)})
		for i := range 10 {
			proposeRetry(t, ms[i%3].node, "m")
		}
	})
}

// An observer follows voters over TLS with the secret, and one without
// the secret is refused.
func TestObserverSecured(t *testing.T) {
	ca := testpki.New(t)
	secret := []byte("cluster secret")
	logs := &syncBuf{}
	ms := startTCPSecured(t, []string{"c", "c", "c"}, logs, 0,
		[]Security{security(t, ca, secret), security(t, ca, secret), security(t, ca, secret)})
	proposeRetry(t, ms[0].node, "a")
	voters := map[uint64]string{}
	for i, m := range ms {
		voters[uint64(i+1)] = m.addr
	}
	sm := &listMachine{}
	o, err := StartObserver(ObserverConfig{ID: 9, ClusterID: "c", Voters: voters, Dir: filepath.Join(t.TempDir(), "o"),
		StateMachine: sm, Security: security(t, ca, secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	waitList(t, "the secured observer", sm, []string{"a"})

	bad, err := StartObserver(ObserverConfig{ID: 10, ClusterID: "c", Voters: voters, Dir: filepath.Join(t.TempDir(), "bad"),
		StateMachine: &listMachine{}, Security: security(t, ca, nil)})
	if err == nil {
		defer bad.Close()
	}
	waitRefused(t, logs, "sent no proof")
}

// A hello's proof is good once: the same bytes again, or a proof made
// outside the window, are refused.
func TestHelloProofReplay(t *testing.T) {
	s := Security{Secret: []byte("k")}
	var guard replayGuard
	now := time.Now()
	hello := appendHelloAs(nil, helloMagic, helloProofVersion, 1, 2, "c")
	check := func(full []byte, at time.Time) error {
		return s.checkProof(bufio.NewReader(bytes.NewReader(full[len(hello):])), hello, &guard, at)
	}
	fresh := s.appendProof(bytes.Clone(hello), now)
	if err := check(fresh, now); err != nil {
		t.Fatalf("a fresh proof: %v", err)
	}
	if err := check(fresh, now.Add(time.Second)); !errors.Is(err, errProof) {
		t.Errorf("the same hello again: %v, want a refusal", err)
	}
	old := s.appendProof(bytes.Clone(hello), now.Add(-3*time.Minute))
	if err := check(old, now); !errors.Is(err, errProof) {
		t.Errorf("a proof three minutes old: %v, want a refusal", err)
	}
	wrongHello := bytes.Clone(hello)
	wrongHello[len(wrongHello)-1] ^= 1
	proof := s.appendProof(bytes.Clone(hello), now)[len(hello):]
	if err := s.checkProof(bufio.NewReader(bytes.NewReader(proof)), wrongHello, &guard, now); !errors.Is(err, errProof) {
		t.Errorf("a proof of another hello: %v, want a refusal", err)
	}
}
