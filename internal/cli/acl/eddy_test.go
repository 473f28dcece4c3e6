package acl

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

const standardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// The ACL commands against Eddy's authorizer (APIs 29, 30, 31): ACLs in
// the metadata, and Kafka's MATCH filter.
func TestACLLifecycleEddy(t *testing.T) {
	addr := clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{"authorizer.class.name": standardAuthorizer, "super.users": "User:ANONYMOUS"},
		Topics:   map[string]int32{"seeded": 1},
	})
	testACLLifecycle(t, aclBroker{addr: addr, match: 3})
}

// The same over SASL, logging in as alice to see each ACL act: Metadata
// hides what she may not DESCRIBE, and a deny wins.
func TestACLLifecycleEddySASL(t *testing.T) {
	addr := clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{
			"sasl.enabled.mechanisms": "SCRAM-SHA-256",
			"authorizer.class.name":   standardAuthorizer,
			"super.users":             "User:admin",
		},
		Admin:  "admin:admin-secret",
		Topics: map[string]int32{"seeded": 1},
	})
	admin := client.Conn{Brokers: []string{addr}, User: "admin", Password: "admin-secret", SASLMechanism: client.MechanismScram256}
	cl, err := admin.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	altered, err := kadm.NewClient(cl).AlterUserSCRAMs(context.Background(), nil,
		[]kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-secret"}})
	if err == nil {
		err = altered.Error()
	}
	if err != nil {
		t.Fatalf("creating alice: %v", err)
	}
	testACLLifecycle(t, aclBroker{addr: addr, sasl: true, match: 3})
}
