package cli

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// noBroker lists the commands that do not talk to a broker, so take no
// connection flags. A new command missing from here must take them.
var noBroker = []string{
	"eddy bench disk", "eddy bench idle", "eddy bench net",
	"eddy completion bash", "eddy completion fish", "eddy completion powershell", "eddy completion zsh",
	"eddy help",
	"eddy profile create", "eddy profile delete", "eddy profile list", "eddy profile use",
	"eddy serve",
	"eddy storage reencrypt",
}

// Every command that builds a client takes the same connection flags.
func TestEveryClientCommandTakesConnectionFlags(t *testing.T) {
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var without []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() {
			return
		}
		for _, name := range []string{"brokers", "tls-enabled", "tls-ca", "tls-cert", "tls-key", "user", "password", "sasl-mechanism", "profile"} {
			if c.Flag(name) == nil {
				without = append(without, c.CommandPath())
				return
			}
		}
	}
	walk(root)
	slices.Sort(without)
	if !slices.Equal(without, noBroker) {
		t.Errorf("commands without the connection flags:\n  %s\nwant:\n  %s", strings.Join(without, "\n  "), strings.Join(noBroker, "\n  "))
	}
}

// secureKfake starts kfake serving TLS (with client certificates required
// when mtls) and SASL, with admin as a SCRAM-SHA-256 superuser.
func secureKfake(t *testing.T, f clienttest.TLSFiles, mtls bool) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mtls {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		cfg.ClientCAs.AppendCertsFromPEM(pem)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return clienttest.Cluster(t, kfake.NumBrokers(1), kfake.TLS(cfg), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-secret"),
		kfake.Superuser("SCRAM-SHA-512", "admin512", "admin-secret"),
		kfake.Superuser("PLAIN", "plain", "plain-secret"),
		kfake.SeedTopics(1, "seeded"))
}

// Each client command connects over SASL_SSL with the flags alone.
func TestClientCommandsOverSASLSSLKfake(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	addr := secureKfake(t, f, false)
	checkCommands(t, []string{"-b", addr, "--tls-ca", f.CA, "--user", "admin", "--password", "admin-secret"})
}

func checkCommands(t *testing.T, conn []string) {
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{args: []string{"topic", "create", "sec", "-p", "1"}, want: "sec"},
		{args: []string{"topic", "list"}, want: "seeded"},
		{args: []string{"produce", "sec"}, stdin: "one\ntwo\n"},
		{args: []string{"consume", "sec", "-n", "2"}, want: "one\ntwo\n"},
		{args: []string{"group", "list"}},
		{args: []string{"cluster", "info"}, want: "BROKER"},
		{args: []string{"txn", "list"}},
		{args: []string{"user", "list"}, want: "admin"},
		{args: []string{"acl", "list"}, want: "PRINCIPAL"},
		{args: []string{"bench", "produce", "--topic", "sec", "--duration", "300ms", "--format", "json"}, want: `"bench": "produce"`},
		{args: []string{"bench", "consume", "--topic", "sec", "--records", "2", "--format", "json"}, want: `"bench": "consume"`},
	} {
		r := clienttest.Run(t, newRoot, tt.stdin, append(tt.args, conn...)...)
		if r.Err != nil {
			t.Errorf("%v: %v", tt.args, r.Err)
			continue
		}
		if !strings.Contains(r.Stdout, tt.want) {
			t.Errorf("%v: output %q lacks %q", tt.args, r.Stdout, tt.want)
		}
	}
}

// secureBroker is a SASL_SSL broker under test and what it answers a
// failed authentication with: Kafka's SASL_AUTHENTICATION_FAILED (Eddy),
// or a closed connection (kfake).
type secureBroker struct {
	addr     string
	users    map[string]string // mechanism → a user with that credential
	authFail string            // the error a wrong password gives; "*" any
	authHint string
}

// The mechanisms connect as their users; each mistake fails, and the
// common ones with a hint naming the flag to fix.
func TestConnectionFlagsKfake(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	testConnectionFlags(t, f, secureBroker{addr: secureKfake(t, f, false), authFail: "*",
		users: map[string]string{"SCRAM-SHA-256": "admin", "SCRAM-SHA-512": "admin512", "PLAIN": "plain"}})
}

func testConnectionFlags(t *testing.T, f clienttest.TLSFiles, b secureBroker) {
	other := clienttest.TLS(t, "mallory") // a CA the broker does not use
	password := map[string]string{"admin": "admin-secret", "admin512": "admin-secret", "plain": "plain-secret"}
	as := func(mech string) []string {
		u := b.users[mech]
		return []string{"--tls-ca", f.CA, "--user", u, "--password", password[u], "--sasl-mechanism", strings.ToLower(mech)}
	}
	for _, tt := range []struct {
		name     string
		args     []string
		wantErr  string // "" succeeds; "*" fails with any error
		wantHint string
	}{
		{name: "scram-sha-256", args: as("SCRAM-SHA-256")},
		{name: "scram-sha-512", args: as("SCRAM-SHA-512")},
		{name: "plain", args: as("PLAIN")},
		{name: "wrong password", args: []string{"--tls-ca", f.CA, "--user", "admin", "--password", "wrong"}, wantErr: b.authFail, wantHint: b.authHint},
		{name: "unknown user", args: []string{"--tls-ca", f.CA, "--user", "nobody", "--password", "admin-secret"}, wantErr: b.authFail, wantHint: b.authHint},
		{name: "no sasl", args: []string{"--tls-ca", f.CA}, wantErr: "SASL"},
		{name: "no tls", args: []string{"--user", "admin", "--password", "admin-secret"}, wantErr: "TLS"},
		{name: "system roots", args: []string{"--tls-enabled", "--user", "admin", "--password", "admin-secret"},
			wantErr: "certificate signed by unknown authority", wantHint: "--tls-ca"},
		{name: "another CA", args: []string{"--tls-ca", other.CA, "--user", "admin", "--password", "admin-secret"},
			wantErr: "certificate signed by unknown authority", wantHint: "--tls-ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := clienttest.Run(t, newRoot, "", append([]string{"topic", "list", "-b", b.addr}, tt.args...)...)
			checkRun(t, r, tt.wantErr, tt.wantHint)
		})
	}
}

// With client certificates required, the certificate flags connect and
// their absence does not.
func TestMutualTLSKfake(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	addr := secureKfake(t, f, true)
	sasl := []string{"--user", "admin", "--password", "admin-secret"}
	ok := clienttest.Run(t, newRoot, "", append([]string{"topic", "list", "-b", addr, "--tls-ca", f.CA, "--tls-cert", f.ClientCert, "--tls-key", f.ClientKey}, sasl...)...)
	checkRun(t, ok, "", "")
	without := clienttest.Run(t, newRoot, "", append([]string{"topic", "list", "-b", addr, "--tls-ca", f.CA}, sasl...)...)
	checkRun(t, without, "*", "")
}

func checkRun(t *testing.T, r clienttest.Result, wantErr, wantHint string) {
	t.Helper()
	if wantErr == "" {
		if r.Err != nil {
			t.Fatalf("err = %v", r.Err)
		}
		if !strings.Contains(r.Stdout, "seeded") {
			t.Fatalf("output %q lacks the seeded topic", r.Stdout)
		}
		return
	}
	if r.Err == nil {
		t.Fatalf("no error; output %q", r.Stdout)
	}
	msg := client.Explain(r.Err).Error()
	if wantErr != "*" && !strings.Contains(msg, wantErr) {
		t.Errorf("err = %v, want it to contain %q", msg, wantErr)
	}
	if !strings.Contains(msg, "hint: ") != (wantHint == "") || !strings.Contains(msg, wantHint) {
		t.Errorf("err = %v, want hint %q", msg, wantHint)
	}
}

// A profile supplies the connection flags; EDDY_PASSWORD supplies the
// password it does not store; a flag on the command line wins over both.
func TestProfileConnectsOverSASLSSL(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	addr := secureKfake(t, f, false)
	t.Setenv(client.ConfigEnv, filepath.Join(t.TempDir(), "profiles.yaml"))
	t.Setenv(client.PasswordEnv, "")
	run := func(args ...string) clienttest.Result { return clienttest.Run(t, newRoot, "", args...) }

	if r := run("profile", "create", "secure", "-b", addr, "--tls-ca", f.CA, "--user", "admin"); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := run("topic", "list"); r.Err == nil || !strings.Contains(r.Err.Error(), `needs a password: give --password or set EDDY_PASSWORD (with profile "secure")`) {
		t.Fatalf("no password anywhere: %v", r.Err)
	}
	t.Setenv(client.PasswordEnv, "admin-secret")
	checkRun(t, run("topic", "list"), "", "")
	checkRun(t, run("topic", "list", "--password", "wrong"), "*", "")
	checkRun(t, run("topic", "list", "--user", "admin512", "--sasl-mechanism", "SCRAM-SHA-512"), "", "")

	if r := run("profile", "create", "plaintext", "-b", addr); r.Err != nil {
		t.Fatal(r.Err)
	}
	checkRun(t, run("topic", "list"), "*", "") // the new profile is current
	checkRun(t, run("topic", "list", "--profile", "secure"), "", "")
	if r := run("profile", "use", "secure"); r.Err != nil {
		t.Fatal(r.Err)
	}
	checkRun(t, run("topic", "list"), "", "")
}
