package user

import (
	"testing"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// The user commands against Eddy's SCRAM store (APIs 50 and 51), with
// admin created by EDDY_BOOTSTRAP_USER.
func TestUserLifecycleEddy(t *testing.T) {
	addr := clienttest.EddyNode(t, clienttest.Node{Admin: "admin:admin-secret", Topics: map[string]int32{"seeded": 1}})
	testUserLifecycle(t, []string{"-b", addr}, false)
}

// The same over SASL: each credential the commands set is the one the
// listener then checks.
func TestUserLifecycleEddySASL(t *testing.T) {
	addr := clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512"},
		Admin:    "admin:admin-secret",
		Topics:   map[string]int32{"seeded": 1},
	})
	testUserLifecycle(t, []string{"-b", addr, "--user", "admin", "--password", "admin-secret"}, true)
}
