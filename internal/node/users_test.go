package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/node"
)

// describedSCRAMs renders a DescribeUserScramCredentials answer as
// "user: mechanism/iterations ..." or "user: ERROR_NAME", sorted by user.
func describedSCRAMs(t *testing.T, adm *kadm.Client, users ...string) []string {
	t.Helper()
	got, err := adm.DescribeUserSCRAMs(testContext(t), users...)
	if err != nil {
		t.Fatalf("DescribeUserSCRAMs(%v): %v", users, err)
	}
	var out []string
	for _, d := range got.Sorted() {
		if d.Err != nil {
			out = append(out, fmt.Sprintf("%s: %s", d.User, scramErrName(d.Err)))
			continue
		}
		line := d.User + ":"
		for _, c := range d.CredInfos {
			line += fmt.Sprintf(" %s/%d", c.Mechanism, c.Iterations)
		}
		out = append(out, line)
	}
	return out
}

func scramErrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// alteredSCRAMs renders an AlterUserScramCredentials answer as
// "user: ok" or "user: ERROR_NAME", sorted by user.
func alteredSCRAMs(t *testing.T, adm *kadm.Client, del []kadm.DeleteSCRAM, up []kadm.UpsertSCRAM) []string {
	t.Helper()
	got, err := adm.AlterUserSCRAMs(testContext(t), del, up)
	if err != nil {
		t.Fatalf("AlterUserSCRAMs: %v", err)
	}
	var out []string
	for _, a := range got.Sorted() {
		status := "ok"
		if a.Err != nil {
			status = scramErrName(a.Err)
		}
		out = append(out, a.User+": "+status)
	}
	return out
}

// checkPassword checks through the listener's lookup that user's
// credential for m holds password and not wrong.
func checkPassword(t *testing.T, n *node.Node, user string, m auth.Mechanism, password, wrong string) {
	t.Helper()
	c, ok := node.ScramCredential(n, user, m)
	if !ok {
		t.Fatalf("%s has no %v credential", user, m)
	}
	if !c.VerifyPassword(password) || c.VerifyPassword(wrong) {
		t.Errorf("%s's %v credential: holds %q %v, holds %q %v", user, m, password, c.VerifyPassword(password), wrong, c.VerifyPassword(wrong))
	}
}

// TestScramUsers creates, describes and deletes SCRAM users with kadm, as
// kafka-configs.sh --alter --add-config SCRAM-SHA-256=... does, and checks
// that they survive a restart.
func TestScramUsers(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, nil)
	adm := newAdmin(t, tn.KafkaAddr())
	checkLines(t, "no users yet", describedSCRAMs(t, adm), nil)
	checkLines(t, "create", alteredSCRAMs(t, adm, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-secret"},
	}), []string{"alice: ok", "bob: ok"})
	checkLines(t, "add a mechanism", alteredSCRAMs(t, adm, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 16384, Password: "alice-512"},
	}), []string{"alice: ok"})
	checkLines(t, "describe all", describedSCRAMs(t, adm),
		[]string{"alice: SCRAM-SHA-256/4096 SCRAM-SHA-512/16384", "bob: SCRAM-SHA-512/8192"})
	checkLines(t, "describe one", describedSCRAMs(t, adm, "bob"), []string{"bob: SCRAM-SHA-512/8192"})
	checkPassword(t, tn.Node, "alice", auth.ScramSHA256, "alice-secret", "alice-512")
	checkPassword(t, tn.Node, "alice", auth.ScramSHA512, "alice-512", "alice-secret")
	checkPassword(t, tn.Node, "bob", auth.ScramSHA512, "bob-secret", "alice-secret")

	checkLines(t, "delete", alteredSCRAMs(t, adm, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha256}}, nil),
		[]string{"alice: ok"})
	if _, ok := node.ScramCredential(tn.Node, "alice", auth.ScramSHA256); ok {
		t.Error("a deleted credential is still found")
	}
	checkLines(t, "delete the last", alteredSCRAMs(t, adm, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil),
		[]string{"bob: ok"})
	checkLines(t, "after deletes", describedSCRAMs(t, adm), []string{"alice: SCRAM-SHA-512/16384"})

	tn.stop(t)
	tn = startNode(t, dir, nil)
	adm = newAdmin(t, tn.KafkaAddr())
	checkLines(t, "after restart", describedSCRAMs(t, adm), []string{"alice: SCRAM-SHA-512/16384"})
	checkPassword(t, tn.Node, "alice", auth.ScramSHA512, "alice-512", "alice-secret")
}

// TestScramUserErrors checks each error Kafka answers the SCRAM APIs with.
// Mistakes kadm catches before sending go out as raw requests.
func TestScramUserErrors(t *testing.T) {
	tn := startNode(t, "", nil)
	cl := newClient(t, tn.KafkaAddr())
	adm := kadm.NewClient(cl)
	checkLines(t, "create", alteredSCRAMs(t, adm, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Password: "a"},
		{User: "bob", Mechanism: kadm.ScramSha256, Password: "b"},
	}), []string{"alice: ok", "bob: ok"})

	checkLines(t, "describe a user without credentials and one named twice", describedSCRAMs(t, adm, "nobody", "alice", "bob", "bob"),
		[]string{"alice: SCRAM-SHA-256/4096", "bob: DUPLICATE_RESOURCE", "nobody: RESOURCE_NOT_FOUND"})

	salt, salted := []byte("salt"), make([]byte, 32)
	checkLines(t, "alter", alteredSCRAMs(t, adm,
		[]kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}, {User: "bob", Mechanism: kadm.ScramSha256}},
		[]kadm.UpsertSCRAM{
			{User: "", Mechanism: kadm.ScramSha256, Password: "x"},
			{User: "few", Mechanism: kadm.ScramSha256, Iterations: 100, Salt: salt, SaltedPassword: salted},
			{User: "many", Mechanism: kadm.ScramSha256, Iterations: 20000, Salt: salt, SaltedPassword: salted},
			{User: "bob", Mechanism: kadm.ScramSha512, Password: "b2"},
			{User: "twice", Mechanism: kadm.ScramSha256, Password: "1"},
			{User: "twice", Mechanism: kadm.ScramSha512, Password: "2"},
			{User: "carol", Mechanism: kadm.ScramSha256, Password: "c"},
		}), []string{
		": UNACCEPTABLE_CREDENTIAL", "alice: RESOURCE_NOT_FOUND", "bob: DUPLICATE_RESOURCE", "carol: ok",
		"few: UNACCEPTABLE_CREDENTIAL", "many: UNACCEPTABLE_CREDENTIAL", "twice: DUPLICATE_RESOURCE"})

	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name           string
		mechanism      int8
		salt, password []byte
	}{{"unknown-mechanism", 3, salt, salted}, {"no-salt", 1, nil, salted}, {"no-salted-password", 1, salt, nil}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mechanism, 4096, u.salt, u.password
		req.Upsertions = append(req.Upsertions, up)
	}
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "alice", 0
	req.Deletions = append(req.Deletions, del)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range resp.Results {
		lines = append(lines, fmt.Sprintf("%s: %s", r.User, scramErrName(kerr.ErrorForCode(r.ErrorCode))))
	}
	slices.Sort(lines)
	checkLines(t, "raw alter", lines, []string{"alice: UNSUPPORTED_SASL_MECHANISM", "no-salt: UNACCEPTABLE_CREDENTIAL",
		"no-salted-password: UNACCEPTABLE_CREDENTIAL", "unknown-mechanism: UNSUPPORTED_SASL_MECHANISM"})

	checkLines(t, "only carol was added", describedSCRAMs(t, adm),
		[]string{"alice: SCRAM-SHA-256/4096", "bob: SCRAM-SHA-256/4096", "carol: SCRAM-SHA-256/4096"})
}

// TestBootstrapUser starts a node with a bootstrap user, changes its
// password, and restarts with the same bootstrap user: the change is kept.
func TestBootstrapUser(t *testing.T) {
	dir := t.TempDir()
	withUser := func(c *node.Config) { c.BootstrapUser = "admin:admin-secret" }
	tn := startNode(t, dir, nil, withUser)
	adm := newAdmin(t, tn.KafkaAddr())
	checkLines(t, "bootstrapped", describedSCRAMs(t, adm), []string{"admin: SCRAM-SHA-256/4096 SCRAM-SHA-512/4096"})
	checkPassword(t, tn.Node, "admin", auth.ScramSHA256, "admin-secret", "changed")
	checkPassword(t, tn.Node, "admin", auth.ScramSHA512, "admin-secret", "changed")
	checkLines(t, "change the password", alteredSCRAMs(t, adm, nil, []kadm.UpsertSCRAM{
		{User: "admin", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "changed"},
	}), []string{"admin: ok"})

	tn.stop(t)
	tn = startNode(t, dir, nil, withUser)
	adm = newAdmin(t, tn.KafkaAddr())
	checkLines(t, "after restart", describedSCRAMs(t, adm), []string{"admin: SCRAM-SHA-256/8192 SCRAM-SHA-512/4096"})
	checkPassword(t, tn.Node, "admin", auth.ScramSHA256, "changed", "admin-secret")
	if !strings.Contains(tn.logs.String(), "bootstrap user exists") {
		t.Error("the restart did not log that the bootstrap user was kept")
	}

	for _, bad := range []string{"admin", ":pw", "admin:"} {
		_, err := node.Start(context.Background(), node.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0",
			Logger: slog.New(slog.DiscardHandler), BootstrapUser: bad})
		if err == nil || !strings.Contains(err.Error(), "EDDY_BOOTSTRAP_USER") {
			t.Errorf("bootstrap user %q: start error %v", bad, err)
		}
	}
}

// TestScramUsersCluster runs a 3-node process cluster whose nodes are all
// given EDDY_BOOTSTRAP_USER: one creates the user, the others keep it. A
// user altered through one node is described by another, and a restarted
// node still has both.
func TestScramUsersCluster(t *testing.T) {
	t.Setenv("EDDY_BOOTSTRAP_USER", "admin:admin-secret") // inherited by the children
	c := newProcCluster(t, 3)
	created := 0
	waitFor(t, "every node to log the bootstrap user", func() bool {
		created = 0
		logged := 0
		for _, n := range c.nodes {
			log := n.log.String()
			if strings.Contains(log, "bootstrap user created") {
				created++
			}
			if strings.Contains(log, "bootstrap user created") || strings.Contains(log, "bootstrap user exists") {
				logged++
			}
		}
		return logged == len(c.nodes)
	})
	if created != 1 {
		t.Errorf("%d nodes created the bootstrap user, want 1", created)
	}

	cl := c.client()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "carol", 2, 8192, []byte("salt"), make([]byte, 64)
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	alter.Upsertions = append(alter.Upsertions, up)
	resp, err := alter.RequestWith(testContext(t), cl.Broker(1))
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("alter through node 1: %+v, %v", resp, err)
	}
	want := []string{"admin: SCRAM-SHA-256/4096 SCRAM-SHA-512/4096", "carol: SCRAM-SHA-512/8192"}
	for _, id := range []int{2, 3} {
		describeOn(t, c, id, want)
	}
	c.nodes[2].kill()
	c.restart(2)
	describeOn(t, c, 3, want)
}

// describeOn waits until node id describes exactly want: a follower
// applies a change shortly after the quorum commits it.
func describeOn(t *testing.T, c *procCluster, id int, want []string) {
	t.Helper()
	cl := newClient(t, c.kafka[id-1])
	var got []string
	waitFor(t, fmt.Sprintf("node %d to describe %q", id, want), func() bool {
		resp, err := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest().RequestWith(testContext(t), cl.Broker(id))
		if err != nil {
			return false
		}
		got = got[:0]
		for _, r := range resp.Results {
			line := r.User + ":"
			for _, ci := range r.CredentialInfos {
				line += fmt.Sprintf(" %s/%d", kadm.ScramMechanism(ci.Mechanism), ci.Iterations)
			}
			got = append(got, line)
		}
		return slices.Equal(got, want)
	})
}

// The adversary tests (adversary_fuzz_test.go) send mutations of a valid
// request of every served API; these are the SCRAM APIs'.
func init() {
	requestBuilders[kmsg.DescribeUserSCRAMCredentials.Int16()] = describeUserSCRAMReq
	requestBuilders[kmsg.AlterUserSCRAMCredentials.Int16()] = alterUserSCRAMReq
}

func describeUserSCRAMReq(_ int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	req.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "fuzz-user"}, {Name: "missing"}}
	return req
}

func alterUserSCRAMReq(_ int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "fuzz-user", 1, 4096, []byte("salt"), make([]byte, 32)
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "missing", 2
	req.Upsertions, req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up}, []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del}
	return req
}
