package node_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/testpki"
)

// httpStatus GETs path over cl, with basic auth when user is set.
func httpStatus(t *testing.T, cl *http.Client, url, user, password string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHTTPSecurity: with TLS and SASL, the HTTP listener speaks TLS with
// the node's certificate and wants basic auth from the SCRAM users (a
// changed password stops working at once); profiles on a listener that is
// not loopback are for super users only.
func TestHTTPSecurity(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	tn := startNode(t, "", map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-512", "super.users": "User:admin"},
		withTLS(cert, key, ""), withBootstrapUser, func(cfg *node.Config) { cfg.HTTPAddr = "0.0.0.0:0" })
	base := "https://" + strings.Replace(tn.HTTPAddr(), "0.0.0.0", "localhost", 1)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: c.ClientTLS(t, "", "")}}

	// Plain HTTP gets Go's answer for a TLS port, nothing else.
	if got := httpStatus(t, http.DefaultClient, "http://"+strings.Replace(tn.HTTPAddr(), "0.0.0.0", "127.0.0.1", 1)+"/healthz", "admin", "admin-secret"); got != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS listener: %d, want 400", got)
	}
	for _, tc := range []struct {
		path, user, password string
		want                 int
	}{
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/metrics", "admin", "wrong", http.StatusUnauthorized},
		{"/metrics", "nobody", "admin-secret", http.StatusUnauthorized},
		{"/metrics", "admin", "admin-secret", http.StatusOK},
		// Probes carry no credentials; the answers say only ok or why not.
		{"/healthz", "", "", http.StatusOK},
		{"/readyz", "", "", http.StatusOK},
		{"/readyz", "admin", "wrong", http.StatusOK},
		{"/debug/pprof/", "admin", "admin-secret", http.StatusOK},
	} {
		if got := httpStatus(t, cl, base+tc.path, tc.user, tc.password); got != tc.want {
			t.Errorf("GET %s as %q/%q: %d, want %d", tc.path, tc.user, tc.password, got, tc.want)
		}
	}
	if !strings.Contains(tn.logs.String(), "http authentication failed") {
		t.Error("no log line for the failed authentications")
	}

	// alice is a user, not a super user: metrics yes, profiles no. Her
	// password changes and the old one stops working.
	admin := scram.Auth{User: "admin", Pass: "admin-secret"}
	adm := kadm.NewClient(newClient(t, tn.KafkaAddr(), kgo.DialTLSConfig(c.ClientTLS(t, "", "")), kgo.SASL(admin.AsSha512Mechanism())))
	setPassword := func(p string) {
		t.Helper()
		res, err := adm.AlterUserSCRAMs(testContext(t), nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Password: p}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	setPassword("one")
	if got := httpStatus(t, cl, base+"/metrics", "alice", "one"); got != http.StatusOK {
		t.Errorf("alice's metrics: %d", got)
	}
	if got := httpStatus(t, cl, base+"/debug/pprof/", "alice", "one"); got != http.StatusForbidden {
		t.Errorf("alice's profiles: %d, want 403", got)
	}
	setPassword("two")
	if got := httpStatus(t, cl, base+"/metrics", "alice", "one"); got != http.StatusUnauthorized {
		t.Errorf("alice's old password after the change: %d, want 401", got)
	}
	if got := httpStatus(t, cl, base+"/metrics", "alice", "two"); got != http.StatusOK {
		t.Errorf("alice's new password: %d", got)
	}
}

// TestHTTPMutualTLS: with a client CA the HTTP listener wants a client
// certificate, whose CN is the principal (a super user's gets profiles).
func TestHTTPMutualTLS(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	ops, opsKey := c.Issue(t, "ops", "ops")
	dev, devKey := c.Issue(t, "dev", "dev")
	tn := startNode(t, "", map[string]string{"super.users": "User:ops"}, withTLS(cert, key, c.File),
		func(cfg *node.Config) { cfg.HTTPAddr = "0.0.0.0:0" })
	base := "https://" + strings.Replace(tn.HTTPAddr(), "0.0.0.0", "localhost", 1)
	client := func(cert, key string) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c.ClientTLS(t, cert, key)}}
	}
	if _, err := client("", "").Get(base + "/healthz"); err == nil {
		t.Error("a client without a certificate was served")
	}
	if got := httpStatus(t, client(dev, devKey), base+"/healthz", "", ""); got != http.StatusOK {
		t.Errorf("dev's health: %d", got)
	}
	if got := httpStatus(t, client(dev, devKey), base+"/debug/pprof/", "", ""); got != http.StatusForbidden {
		t.Errorf("dev's profiles: %d, want 403", got)
	}
	if got := httpStatus(t, client(ops, opsKey), base+"/debug/pprof/", "", ""); got != http.StatusOK {
		t.Errorf("ops' profiles: %d, want 200", got)
	}
}
