package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Explain adds a hint naming the flags to check to the connection errors
// whose cause users most often misread; other errors pass unchanged. The
// result still matches the original with errors.Is and errors.As.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	if hint := hint(err); hint != "" {
		return fmt.Errorf("%w\nhint: %s", err, hint)
	}
	return err
}

func hint(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "the broker refused the user name or password: check --user, --password (or " + PasswordEnv + ") and --sasl-mechanism"
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return "the broker does not accept this --sasl-mechanism; its sasl.enabled.mechanisms lists those it does"
	case errors.Is(err, kerr.IllegalSaslState):
		return "the broker did not expect SASL here: is SASL enabled on it? drop --user if not"
	case errors.As(err, &unknownCA):
		return "the broker's certificate is not signed by a CA this client trusts: give the CA with --tls-ca"
	case errors.As(err, &hostname):
		return "the broker's certificate does not name the address dialled: use the host name it was issued for in -b"
	case errors.As(err, &record):
		return "the broker answered in plaintext: it does not listen with TLS there; drop --tls-enabled, --tls-ca and --tls-cert"
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return "the ACLs do not allow this principal that operation (eddy acl list --principal NAME shows its ACLs)"
	}
	return ""
}
