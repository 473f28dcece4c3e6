package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// create, use, list and delete, through the command line, on a profile
// file in the test's directory.
func TestProfileCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.yaml")
	t.Setenv(client.ConfigEnv, path)
	f := clienttest.TLS(t, "alice")
	run := func(args ...string) clienttest.Result {
		t.Helper()
		return clienttest.Run(t, Command, "", args...)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.Err != nil {
			t.Fatalf("%v: %v", args, r.Err)
		}
		return r.Stdout
	}

	if r := run("use", "prod"); r.Err == nil || !strings.Contains(r.Err.Error(), "there are no profiles yet") {
		t.Fatalf("use before create: %v", r.Err)
	}
	mustRun("create", "local", "-b", "127.0.0.1:9092")
	mustRun("create", "prod", "-b", "k1:9093,k2:9093", "--tls-ca", f.CA, "--user", "alice", "--password", "secret", "--sasl-mechanism", "scram-sha-512")
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create", "prod"}, `profile "prod" already exists`},
		{[]string{"create", "x", "--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, "reading --tls-ca"},
		{[]string{"create", "x", "--tls-key", f.ClientKey}, "--tls-key needs --tls-cert"},
		{[]string{"create", "x", "--user", "u", "--sasl-mechanism", "MD5"}, "unknown --sasl-mechanism"},
		{[]string{"use", "nope"}, `no profile "nope" (have: [local prod])`},
		{[]string{"delete", "nope"}, `no profile "nope"`},
		{[]string{"list", "--format", "yaml"}, "unknown --format"},
	} {
		if r := run(tt.args...); r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
			t.Errorf("%v: err %v, want %q", tt.args, r.Err, tt.wantErr)
		}
	}

	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v, %v", st, err)
	}
	p, err := client.LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	prod := p.Profiles["prod"]
	if p.Current != "prod" || prod.SASLMechanism != client.MechanismScram512 || prod.TLSCA != f.CA || prod.Password != "secret" {
		t.Fatalf("stored: %+v", p)
	}

	text := mustRun("list")
	if strings.Contains(text, "secret") || !strings.Contains(text, "*  prod") || !strings.Contains(text, "stored") {
		t.Errorf("list:\n%s", text)
	}
	mustRun("use", "local")
	var listed []struct {
		Name        string   `json:"name"`
		Current     bool     `json:"current"`
		PasswordSet bool     `json:"password_set"`
		Brokers     []string `json:"brokers"`
	}
	out := mustRun("list", "--format", "json")
	if strings.Contains(out, "secret") {
		t.Errorf("list --format json shows the password:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].Name != "local" || !listed[0].Current || listed[1].Current || !listed[1].PasswordSet || len(listed[1].Brokers) != 2 {
		t.Errorf("list json: %+v", listed)
	}

	mustRun("delete", "local")
	if p, err = client.LoadProfiles(path); err != nil || p.Current != "" || len(p.Profiles) != 1 {
		t.Fatalf("after deleting the current profile: %+v, %v", p, err)
	}
}

// A relative certificate path is stored absolute, so the profile works
// from any directory.
func TestCreateStoresAbsolutePaths(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.yaml")
	t.Setenv(client.ConfigEnv, path)
	f := clienttest.TLS(t, "alice")
	t.Chdir(filepath.Dir(f.CA))
	if r := clienttest.Run(t, Command, "", "create", "rel", "--tls-ca", filepath.Base(f.CA)); r.Err != nil {
		t.Fatal(r.Err)
	}
	p, err := client.LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Profiles["rel"].TLSCA; got != f.CA {
		t.Errorf("stored tls-ca %q, want %q", got, f.CA)
	}
}
