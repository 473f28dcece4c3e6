package acl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/topic"
)

// aclKfake starts kfake with SASL and ACLs on, admin a superuser and alice
// an ordinary user, and returns the broker address.
func aclKfake(t *testing.T) string {
	return clienttest.Cluster(t, kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-secret"),
		kfake.User("SCRAM-SHA-256", "alice", "alice-secret"),
		kfake.SeedTopics(1, "seeded"))
}

// aclBroker is a broker with ACLs on. With sasl, admin/admin-secret is a
// super user and alice/alice-secret an ordinary one; without, the
// anonymous principal is a super user and the lifecycle cannot log in as
// alice to see the ACLs act.
type aclBroker struct {
	addr string
	sasl bool
	// match is how many of the lifecycle's three ACLs a MATCH filter on
	// topic seeded finds: Kafka's MATCH adds the prefixed ACLs covering
	// the name, kfake's wants the exact name.
	match int
}

func TestACLLifecycleKfake(t *testing.T) {
	testACLLifecycle(t, aclBroker{addr: aclKfake(t), sasl: true, match: 1})
}

func testACLLifecycle(t *testing.T, b aclBroker) {
	addr := b.addr
	admin := []string{"-b", addr}
	if b.sasl {
		admin = append(admin, "--user", "admin", "--password", "admin-secret")
	}
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
	list := func(args ...string) []entry {
		t.Helper()
		var es []entry
		if err := json.Unmarshal([]byte(mustRun(append([]string{"list", "--format", "json"}, args...)...)), &es); err != nil {
			t.Fatal(err)
		}
		return es
	}
	aliceSees := func(want bool, why string) {
		t.Helper()
		if !b.sasl {
			return
		}
		r := clienttest.Run(t, topic.Command, "", "list", "-b", addr, "--user", "alice", "--password", "alice-secret")
		if r.Err != nil {
			t.Fatalf("alice lists topics: %v", r.Err)
		}
		if got := strings.Contains(r.Stdout, "seeded"); got != want {
			t.Fatalf("alice sees topic seeded: %v, want %v: %s", got, want, why)
		}
	}

	aliceSees(false, "no ACL allows her yet")
	out := mustRun("create", "--allow-principal", "alice", "--operation", "describe,read", "--topic", "seed", "--resource-pattern-type", "prefixed")
	for _, want := range []string{"User:alice  *     TOPIC          seed           PREFIXED  DESCRIBE   ALLOW", "READ"} {
		if !strings.Contains(out, want) {
			t.Errorf("create printed:\n%s\nwant %q", out, want)
		}
	}
	aliceSees(true, "a prefixed DESCRIBE ACL allows her")
	mustRun("create", "--deny-principal", "User:alice", "--operation", "describe", "--topic", "seeded")
	aliceSees(false, "a deny wins over an allow")

	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, 3},
		{[]string{"--principal", "alice"}, 3},
		{[]string{"--allow-principal", "alice"}, 2},
		{[]string{"--deny-principal", "alice"}, 1},
		{[]string{"--principal", "bob"}, 0},
		{[]string{"--operation", "read"}, 1},
		{[]string{"--topic", "seeded"}, 1},
		{[]string{"--topic", "seeded", "--resource-pattern-type", "match"}, b.match},
		{[]string{"--group", "seeded"}, 0},
	} {
		if got := list(tt.args...); len(got) != tt.want {
			t.Errorf("list %v: %d ACLs %+v, want %d", tt.args, len(got), got, tt.want)
		}
	}

	if r := run("delete"); r.Err == nil || !strings.Contains(r.Err.Error(), "give --yes") {
		t.Errorf("an all-wildcard delete: %v", r.Err)
	}
	if r := run("delete", "--operation", "describe"); r.Err == nil || !strings.Contains(r.Err.Error(), "refusing") {
		t.Errorf("a delete naming only an operation: %v", r.Err)
	}
	if out := mustRun("delete", "--deny-principal", "alice", "--topic", "seeded", "--dry-run"); !strings.Contains(out, "DENY") {
		t.Errorf("dry run printed:\n%s", out)
	}
	if len(list()) != 3 {
		t.Fatal("a dry run deleted")
	}
	if out := mustRun("delete", "--deny-principal", "alice", "--topic", "seeded"); !strings.Contains(out, "User:alice  *     TOPIC          seeded         LITERAL  DESCRIBE   DENY") {
		t.Errorf("delete printed:\n%s", out)
	}
	aliceSees(true, "the deny is deleted")
	if out := mustRun("delete", "--topic", "seed"); strings.Contains(out, "PREFIXED") {
		t.Errorf("a literal delete removed prefixed ACLs:\n%s", out)
	}
	var deleted []entry
	if err := json.Unmarshal([]byte(mustRun("delete", "--topic", "seed", "--resource-pattern-type", "prefixed", "--format", "json")), &deleted); err != nil || len(deleted) != 2 {
		t.Fatalf("delete prefixed: %+v (%v)", deleted, err)
	}

	mustRun("create", "--allow-principal", "alice", "--allow-principal", "bob", "--operation", "read",
		"--group", "g", "--transactional-id", "tx", "--cluster", "--operation", "describe")
	if got := list(); len(got) != 12 {
		t.Fatalf("2 principals x 3 resources x 2 operations: %d ACLs", len(got))
	}
	if got := list("--cluster"); len(got) != 4 || got[0].ResourceName != "kafka-cluster" {
		t.Errorf("cluster ACLs: %+v", got)
	}
	out = mustRun("delete", "--yes", "--resource-pattern-type", "any")
	if n := strings.Count(out, "ALLOW"); n != 12 {
		t.Errorf("delete --yes printed %d ACLs:\n%s", n, out)
	}
	if len(list()) != 0 {
		t.Fatal("ACLs left after deleting all")
	}
}

// Bad flags fail before anything connects (the broker address is unused).
func TestACLFlagErrors(t *testing.T) {
	t.Setenv(client.PasswordEnv, "")
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create", "--operation", "read", "--topic", "t"}, "no principal"},
		{[]string{"create", "--allow-principal", "a", "--operation", "read"}, "no resource"},
		{[]string{"create", "--allow-principal", "a", "--topic", "t"}, "no operation"},
		{[]string{"create", "--allow-principal", "a", "--topic", "t", "--operation", "any"}, `unknown --operation "any"`},
		{[]string{"create", "--allow-principal", "a", "--topic", "t", "--operation", "fly"}, `unknown --operation "fly"`},
		{[]string{"create", "--allow-principal", "a", "--topic", "t", "--operation", "read", "--resource-pattern-type", "match"}, "only filters"},
		{[]string{"create", "--allow-principal", "a", "--topic", "t", "--operation", "read", "--resource-pattern-type", "glob"}, "want literal or prefixed"},
		{[]string{"create", "--deny-principal", "a", "--allow-host", "h", "--topic", "t", "--operation", "read"}, "--allow-host needs --allow-principal"},
		{[]string{"create", "--allow-principal", "a", "--deny-host", "h", "--topic", "t", "--operation", "read"}, "--deny-host needs --deny-principal"},
		{[]string{"list", "--resource-pattern-type", "glob"}, "want literal, prefixed, match or any"},
		{[]string{"list", "--operation", "fly"}, "unknown --operation"},
		{[]string{"delete", "--principal", "a", "--user", "x"}, "--user x needs a password"},
	} {
		r := clienttest.Run(t, Command, "", append(tt.args, "-b", "127.0.0.1:1")...)
		if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
			t.Errorf("%v: err %v, want %q", tt.args, r.Err, tt.wantErr)
		}
	}
}

// A principal without a type is a user; one with a type is left alone.
func TestPrincipalGetsUserPrefix(t *testing.T) {
	for in, want := range map[string]string{"alice": "User:alice", "User:bob": "User:bob", "*": "User:*", "User:*": "User:*", "Group:x": "Group:x"} {
		if got := principal(in); got != want {
			t.Errorf("principal(%q) = %q, want %q", in, got, want)
		}
	}
}
