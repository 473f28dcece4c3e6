package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/testpki"
)

const allMechanisms = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"

func withBootstrapUser(c *node.Config) { c.BootstrapUser = "admin:admin-secret" }

// refusedAuth checks that a client authenticating with mech gets
// SASL_AUTHENTICATION_FAILED.
func refusedAuth(t *testing.T, addr string, mech sasl.Mechanism, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append(opts, kgo.SASL(mech), kgo.RetryTimeout(time.Second))...)
	if err := cl.Ping(testContext(t)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("%s: got %v, want SASL_AUTHENTICATION_FAILED", mech.Name(), err)
	}
}

// TestSASLSSLClients runs SASL_SSL with franz-go: the bootstrap user with
// each mechanism, a user created through the running node, wrong and
// deleted credentials refused, and a client without SASL getting nowhere.
func TestSASLSSLClients(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	tn := startNode(t, "", map[string]string{"sasl.enabled.mechanisms": allMechanisms}, withTLS(cert, key, ""), withBootstrapUser)
	addr, dial := tn.KafkaAddr(), kgo.DialTLSConfig(c.ClientTLS(t, "", ""))
	admin := scram.Auth{User: "admin", Pass: "admin-secret"}
	for _, mech := range []sasl.Mechanism{plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism(),
		admin.AsSha256Mechanism(), admin.AsSha512Mechanism()} {
		produceConsume(t, addr, "sasl-"+strings.ToLower(mech.Name()), 500, 500, dial, kgo.SASL(mech))
	}

	adm := kadm.NewClient(newClient(t, addr, dial, kgo.SASL(admin.AsSha512Mechanism())))
	checkLines(t, "create alice", alteredSCRAMs(t, adm, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-secret"},
	}), []string{"alice: ok"})
	alice := scram.Auth{User: "alice", Pass: "alice-secret"}
	produceConsume(t, addr, "sasl-alice", 10, 10, dial, kgo.SASL(alice.AsSha256Mechanism()))
	produceConsume(t, addr, "sasl-alice-plain", 10, 10, dial, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	refusedAuth(t, addr, alice.AsSha512Mechanism(), dial) // no SHA-512 credential

	refusedAuth(t, addr, scram.Auth{User: "admin", Pass: "wrong"}.AsSha512Mechanism(), dial)
	refusedAuth(t, addr, plain.Auth{User: "admin", Pass: "wrong"}.AsMechanism(), dial)
	refusedAuth(t, addr, scram.Auth{User: "nobody", Pass: "x"}.AsSha256Mechanism(), dial)

	checkLines(t, "delete alice", alteredSCRAMs(t, adm, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha256}}, nil),
		[]string{"alice: ok"})
	refusedAuth(t, addr, alice.AsSha256Mechanism(), dial)

	cl := newClient(t, addr, dial, kgo.RetryTimeout(time.Second))
	if err := cl.Ping(testContext(t)); err == nil {
		t.Fatal("a client without SASL was served")
	}
	if !strings.Contains(tn.logs.String(), "request before SASL authentication") {
		t.Fatal("no log line about the client without SASL")
	}
}

// TestSASLReauthenticationNode produces for several session lifetimes
// (connections.max.reauth.ms) with franz-go, which re-authenticates
// before each session ends (KIP-368): every record is acknowledged and no
// connection is closed for an expired session.
func TestSASLReauthenticationNode(t *testing.T) {
	tn := startNode(t, "", map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256", "connections.max.reauth.ms": "1500"},
		withBootstrapUser)
	mech := kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism())
	cl := newClient(t, tn.KafkaAddr(), mech, kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	ctx := testContext(t)
	produced := 0
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); produced++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", produced, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	consumeExactly(t, tn.KafkaAddr(), "reauth", produced, mech)
	logs := tn.logs.String()
	if !strings.Contains(logs, "SASL re-authentication succeeded") {
		t.Fatal("no re-authentication in the log")
	}
	if strings.Contains(logs, "SASL session expired") {
		t.Fatal("a connection was closed for an expired session")
	}
}

// TestSASLSSLCluster runs three nodes whose listeners require SASL over
// mTLS: followers authenticate to leaders as the bootstrap user, so acks=all
// records reach every replica and the ISR stays full.
func TestSASLSSLCluster(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "node", "eddy-node")
	tc := newTestCluster(t, 3, withTLS(cert, key, c.File), withBootstrapUser, func(cfg *node.Config) {
		cfg.Settings = map[string]string{"sasl.enabled.mechanisms": allMechanisms}
	})
	if t.Failed() {
		t.FailNow()
	}
	cc, ck := c.Issue(t, "client", "client")
	opts := []kgo.Opt{kgo.DialTLSConfig(c.ClientTLS(t, cc, ck)), kgo.SeedBrokers(tc.seeds()...),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism())}
	adm := kadm.NewClient(newClient(t, tc.cfgs[0].KafkaAddr, opts...))
	createTopicRF(t, adm, "sasl-replicated", 3, 3, nil)
	cl := newClient(t, tc.cfgs[0].KafkaAddr, append(opts, kgo.DefaultProduceTopic("sasl-replicated"),
		kgo.RequiredAcks(kgo.AllISRAcks()))...)
	ctx := testContext(t)
	for i := range 300 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	waitFor(t, "every partition's ISR to hold all 3 replicas", func() bool {
		md, err := adm.Metadata(ctx, "sasl-replicated")
		if err != nil {
			return false
		}
		for _, p := range md.Topics["sasl-replicated"].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	consumeExactly(t, tc.cfgs[2].KafkaAddr, "sasl-replicated", 300, opts...)

	// A node given another bootstrap password holds another quorum
	// secret: the voters refuse it, and it never catches up to start.
	stranger := tc.cfgs[0]
	stranger.NodeID, stranger.DataDir, stranger.KafkaAddr, stranger.ControllerAddr, stranger.HTTPAddr = 9, t.TempDir(), "127.0.0.1:0", "", ""
	stranger.BootstrapUser, stranger.Voters, stranger.Logger = "admin:guess", tc.voters, slog.New(slog.DiscardHandler)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := node.Start(sctx, stranger); err == nil {
		n.Close()
		t.Error("a node with another bootstrap password joined the quorum")
	}
	refused := false
	for _, n := range tc.nodes {
		refused = refused || strings.Contains(n.logs.String(), "wrong proof")
	}
	if !refused {
		t.Error("no voter logged the stranger's hello refused")
	}
}

// TestAuthenticatedPrincipalReachesAuthorizer checks the principals the
// listener sets against the ACL authorizer, through an API that checks them
// (DescribeUserScramCredentials: DESCRIBE on the cluster): the SASL super
// user may, a SASL user without ACLs may not until one allows it, and a
// client certificate's CN is the principal when there is no SASL.
func TestAuthenticatedPrincipalReachesAuthorizer(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	authz := map[string]string{"authorizer.class.name": standardAuthorizer, "super.users": "User:admin"}
	sasled := map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256"}
	for k, v := range authz {
		sasled[k] = v
	}
	tn := startNode(t, "", sasled, withTLS(cert, key, ""), withBootstrapUser)
	dial := kgo.DialTLSConfig(c.ClientTLS(t, "", ""))
	as := func(user, pass string) *kadm.Client {
		return kadm.NewClient(newClient(t, tn.KafkaAddr(), dial, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())))
	}
	admin := as("admin", "admin-secret")
	checkLines(t, "create alice", alteredSCRAMs(t, admin, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-secret"},
	}), []string{"alice: ok"})
	described := func(adm *kadm.Client) error {
		_, err := adm.DescribeUserSCRAMs(testContext(t))
		return err
	}
	if err := described(admin); err != nil {
		t.Fatalf("super user: %v", err)
	}
	alice := as("alice", "alice-secret")
	if err := described(alice); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice without ACLs: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}
	res, err := admin.CreateACLs(testContext(t), kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpDescribe))
	if err != nil || res[0].Err != nil {
		t.Fatalf("creating alice's ACL: %v %v", err, res)
	}
	if err := described(alice); err != nil {
		t.Fatalf("alice with DESCRIBE on the cluster: %v", err)
	}

	// mTLS without SASL: User:<CN>.
	mt := startNode(t, "", authz, withTLS(cert, key, c.File))
	carolCert, carolKey := c.Issue(t, "carol", "carol")
	adminCert, adminKey := c.Issue(t, "admin", "admin")
	carol := kadm.NewClient(newClient(t, mt.KafkaAddr(), kgo.DialTLSConfig(c.ClientTLS(t, carolCert, carolKey))))
	if err := described(carol); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("carol without ACLs: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}
	certAdmin := kadm.NewClient(newClient(t, mt.KafkaAddr(), kgo.DialTLSConfig(c.ClientTLS(t, adminCert, adminKey))))
	if err := described(certAdmin); err != nil {
		t.Fatalf("CN=admin, a super user: %v", err)
	}
}
