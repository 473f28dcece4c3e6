package cli

import (
	"strings"
	"testing"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
)

// secureEddy starts an Eddy node serving SASL_SSL (every mechanism) with
// ACLs on, admin/admin-secret its super user, and topic seeded.
func secureEddy(t *testing.T, f clienttest.TLSFiles, mtls bool, mechanisms string) string {
	t.Helper()
	return clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{
			"sasl.enabled.mechanisms": mechanisms,
			"authorizer.class.name":   "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":             "User:admin",
		},
		Admin:  "admin:admin-secret",
		TLS:    &f,
		MTLS:   mtls,
		Topics: map[string]int32{"seeded": 1},
	})
}

// Each client command connects to Eddy over SASL_SSL as a super user.
func TestClientCommandsOverSASLSSLEddy(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	addr := secureEddy(t, f, false, "SCRAM-SHA-256")
	checkCommands(t, []string{"-b", addr, "--tls-ca", f.CA, "--user", "admin", "--password", "admin-secret"})
}

// Every mechanism Eddy enables accepts the bootstrap user; a wrong
// password or an unknown user is SASL_AUTHENTICATION_FAILED with a hint.
func TestConnectionFlagsEddy(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	testConnectionFlags(t, f, secureBroker{addr: secureEddy(t, f, false, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
		authFail: "SASL_AUTHENTICATION_FAILED", authHint: "--password (or EDDY_PASSWORD)",
		users: map[string]string{"SCRAM-SHA-256": "admin", "SCRAM-SHA-512": "admin", "PLAIN": "admin"}})
}

// A mechanism the broker does not enable is refused with a hint; TLS to a
// plaintext listener fails.
func TestConnectionFlagsAgainstEddyMismatch(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	only512 := secureEddy(t, f, false, "SCRAM-SHA-512")
	r := clienttest.Run(t, newRoot, "", "topic", "list", "-b", only512, "--tls-ca", f.CA, "--user", "admin", "--password", "admin-secret")
	checkRun(t, r, "UNSUPPORTED_SASL_MECHANISM", "sasl.enabled.mechanisms")
	r = clienttest.Run(t, newRoot, "", "topic", "list", "-b", only512, "--tls-ca", f.CA, "--user", "admin", "--password", "admin-secret", "--sasl-mechanism", "SCRAM-SHA-512")
	checkRun(t, r, "", "")

	plaintext := clienttest.Eddy(t, nil, map[string]int32{"seeded": 1})
	r = clienttest.Run(t, newRoot, "", "topic", "list", "-b", plaintext, "--tls-ca", f.CA)
	checkRun(t, r, "*", "")
	r = clienttest.Run(t, newRoot, "", "topic", "list", "-b", plaintext)
	checkRun(t, r, "", "")
}

// Under mTLS without SASL the certificate's CN is the principal: alice, a
// super user, may list ACLs; bob, with no ACLs, may not; without a
// certificate the handshake fails.
func TestMutualTLSPrincipalEddy(t *testing.T) {
	f := clienttest.TLS(t, "alice")
	addr := clienttest.EddyNode(t, clienttest.Node{
		Settings: map[string]string{
			"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":           "User:alice",
		},
		TLS: &f, MTLS: true,
	})
	aclList := func(args ...string) clienttest.Result {
		return clienttest.Run(t, newRoot, "", append([]string{"acl", "list", "-b", addr, "--tls-ca", f.CA}, args...)...)
	}
	if r := aclList("--tls-cert", f.ClientCert, "--tls-key", f.ClientKey); r.Err != nil || !strings.Contains(r.Stdout, "PRINCIPAL") {
		t.Errorf("alice lists ACLs: %v, output %q", r.Err, r.Stdout)
	}
	bobCert, bobKey := f.Client(t, "bob")
	r := aclList("--tls-cert", bobCert, "--tls-key", bobKey)
	if r.Err == nil || !strings.Contains(client.Explain(r.Err).Error(), "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("bob lists ACLs: %v, output %q", r.Err, r.Stdout)
	}
	if r := aclList(); r.Err == nil {
		t.Errorf("no client certificate: output %q", r.Stdout)
	}
}
