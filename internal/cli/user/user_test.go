package user

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/topic"
)

// saslKfake starts kfake with SASL on and admin/admin-secret as its
// superuser, and returns the flags that connect as admin.
func saslKfake(t *testing.T) []string {
	addr := clienttest.Cluster(t, kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-secret"), kfake.SeedTopics(1, "seeded"))
	return []string{"-b", addr, "--user", "admin", "--password", "admin-secret"}
}

func TestUserLifecycleKfake(t *testing.T) { testUserLifecycle(t, saslKfake(t), true) }

// testUserLifecycle creates, changes, lists and deletes alice through the
// broker that admin (the flags connecting as its admin) reaches; with
// sasl, it checks each step by logging in as her.
func testUserLifecycle(t *testing.T, admin []string, sasl bool) {
	run := func(args ...string) clienttest.Result {
		t.Helper()
		return clienttest.Run(t, Command, "", append(args, admin...)...)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.Err != nil {
			t.Fatalf("%v: %v", args, r.Err)
		}
		return r.Stdout
	}
	login := func(password string, want bool, why string) {
		t.Helper()
		if !sasl {
			return
		}
		r := clienttest.Run(t, topic.Command, "", "list", "-b", admin[1], "--user", "alice", "--password", password)
		if got := r.Err == nil && strings.Contains(r.Stdout, "seeded"); got != want {
			t.Fatalf("alice logs in with %s: %v (%v): %s", password, got, r.Err, why)
		}
	}

	if out := mustRun("create", "alice", "--new-password", "a1"); !strings.Contains(out, "alice  SCRAM-SHA-256  created") {
		t.Errorf("create:\n%s", out)
	}
	login("a1", true, "the password just set")
	if out := mustRun("create", "alice", "--new-password", "a2"); !strings.Contains(out, "password replaced") {
		t.Errorf("create again:\n%s", out)
	}
	login("a1", false, "the old password")
	login("a2", true, "the new password")
	mustRun("create", "alice", "--new-password", "a2", "--mechanism", "scram-sha-512", "--iterations", "8192")

	var listed []listed
	if err := json.Unmarshal([]byte(mustRun("list", "alice", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	want := []credential{{"SCRAM-SHA-256", 4096}, {"SCRAM-SHA-512", 8192}}
	if len(listed) != 1 || listed[0].User != "alice" || !sameCredentials(listed[0].Credentials, want) {
		t.Fatalf("list alice: %+v, want %v", listed, want)
	}
	if out := mustRun("list"); !strings.Contains(out, "admin") || !strings.Contains(out, "alice") {
		t.Errorf("list:\n%s", out)
	}

	if out := mustRun("delete", "alice", "--mechanism", "SCRAM-SHA-512"); !strings.Contains(out, "alice  SCRAM-SHA-512  deleted") || strings.Contains(out, "SCRAM-SHA-256") {
		t.Errorf("delete one mechanism:\n%s", out)
	}
	login("a2", true, "deleting SCRAM-SHA-512 must leave SCRAM-SHA-256")
	mustRun("create", "alice", "--new-password", "a2", "--mechanism", "SCRAM-SHA-512")
	out := mustRun("delete", "alice", "--format", "json")
	var deleted []result
	if err := json.Unmarshal([]byte(out), &deleted); err != nil || len(deleted) != 2 {
		t.Fatalf("delete all mechanisms: %s (%v)", out, err)
	}
	login("a2", false, "a deleted user")
	if r := run("delete", "alice"); r.Err == nil || !strings.Contains(r.Err.Error(), `no user "alice"`) {
		t.Errorf("deleting a deleted user: %v", r.Err)
	}
	if r := run("list", "alice"); r.Err == nil || !strings.Contains(r.Err.Error(), `user "alice": no such user`) {
		t.Errorf("listing a deleted user: %v", r.Err)
	}
}

// Bad flags fail before anything connects (the broker address is unused).
func TestUserFlagErrors(t *testing.T) {
	t.Setenv(client.PasswordEnv, "") // "--user x" must lack a password
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create", "bob"}, "--new-password is required"},
		{[]string{"create", "bob", "--new-password", "p", "--iterations", "100"}, "--iterations 100 is outside 4096 to 16384"},
		{[]string{"create", "bob", "--new-password", "p", "--iterations", "20000"}, "outside 4096 to 16384"},
		{[]string{"create", "bob", "--new-password", "p", "--mechanism", "PLAIN"}, `unknown --mechanism "PLAIN" (want SCRAM-SHA-256 or SCRAM-SHA-512)`},
		{[]string{"create", "", "--new-password", "p"}, "must not be empty"},
		{[]string{"delete", "bob", "--mechanism", "MD5"}, "unknown --mechanism"},
		{[]string{"list", "--user", "x"}, "--user x needs a password"},
		{[]string{"list", "--format", "xml"}, "unknown --format"},
	} {
		r := clienttest.Run(t, Command, "", append(tt.args, "-b", "127.0.0.1:1")...)
		if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
			t.Errorf("%v: err %v, want %q", tt.args, r.Err, tt.wantErr)
		}
	}
}

func sameCredentials(got, want []credential) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
