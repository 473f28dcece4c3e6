package acl

import (
	"testing"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// The ACL commands against Eddy's authorizer (APIs 29, 30, 31): ACLs in
// the metadata, and Kafka's MATCH filter.
func TestACLLifecycleEddy(t *testing.T) {
	addr := clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{
			"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":           "User:ANONYMOUS",
		},
		Topics: map[string]int32{"seeded": 1},
	})
	testACLLifecycle(t, aclBroker{addr: addr, match: 3})
}
