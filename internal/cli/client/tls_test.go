package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// Certificate files are read when a client is built; each failure names
// the flag whose file is at fault.
func TestKgoOptsTLSFiles(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tt := range []struct {
		name    string
		conn    client.Conn
		wantErr string
	}{
		{name: "system roots", conn: client.Conn{TLSEnabled: true}},
		{name: "ca", conn: client.Conn{TLSCA: f.CA}},
		{name: "mtls", conn: client.Conn{TLSCA: f.CA, TLSCert: f.ClientCert, TLSKey: f.ClientKey}},
		{name: "missing ca", conn: client.Conn{TLSCA: missing}, wantErr: "reading --tls-ca: open " + missing},
		{name: "ca without pem", conn: client.Conn{TLSCA: garbage}, wantErr: "--tls-ca " + garbage + ": no PEM certificate found"},
		{name: "missing cert", conn: client.Conn{TLSCert: missing, TLSKey: f.ClientKey}, wantErr: "reading --tls-cert: open " + missing},
		{name: "missing key", conn: client.Conn{TLSCert: f.ClientCert, TLSKey: missing}, wantErr: "reading --tls-key: open " + missing},
		{name: "key of another cert", conn: client.Conn{TLSCert: f.ClientCert, TLSKey: f.ServerKey}, wantErr: "loading the client certificate (--tls-cert " + f.ClientCert},
		{name: "cert file as key", conn: client.Conn{TLSCert: f.ClientCert, TLSKey: f.ClientCert}, wantErr: "loading the client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.conn.Brokers = []string{"127.0.0.1:1"}
			if err := tt.conn.Check(); err != nil {
				t.Fatal(err)
			}
			cl, err := tt.conn.NewClient()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				cl.Close()
				return
			}
			if err == nil {
				cl.Close()
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// The profile file round-trips, is private to its owner, and a missing
// file is no profiles rather than an error.
func TestProfilesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "profiles.yaml")
	empty, err := client.LoadProfiles(path)
	if err != nil || empty.Current != "" || len(empty.Profiles) != 0 {
		t.Fatalf("missing file: %+v, %v", empty, err)
	}
	p := &client.Profiles{Current: "a", Profiles: map[string]client.Conn{
		"a": {Brokers: []string{"h:1"}, User: "u", Password: "secret", SASLMechanism: client.MechanismPlain},
		"b": {TLSEnabled: true},
	}}
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := client.LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != "a" || got.Profiles["a"].Password != "secret" || !got.Profiles["b"].TLSEnabled || len(got.Names()) != 2 {
		t.Errorf("round trip: %+v", got)
	}

	if err := os.WriteFile(path, []byte("current: gone\nprofiles:\n  a: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadProfiles(path); err == nil || !strings.Contains(err.Error(), `current profile "gone" is not defined`) {
		t.Errorf("dangling current: %v", err)
	}
	if err := os.WriteFile(path, []byte("profiles: [1, 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadProfiles(path); err == nil || !strings.Contains(err.Error(), "parsing the profile file") {
		t.Errorf("bad yaml: %v", err)
	}
}
