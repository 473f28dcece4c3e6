package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestExplain(t *testing.T) {
	plain := errors.New("listing topics: boom")
	if Explain(nil) != nil || Explain(plain) != plain {
		t.Fatal("Explain changed an error it has no hint for")
	}
	for _, tt := range []struct {
		err  error
		hint string
	}{
		{fmt.Errorf("listing topics: %w", kerr.SaslAuthenticationFailed), "--password (or EDDY_PASSWORD)"},
		{fmt.Errorf("x: %w", kerr.UnsupportedSaslMechanism), "sasl.enabled.mechanisms"},
		{fmt.Errorf("unable to dial: %w", x509.UnknownAuthorityError{}), "--tls-ca"},
		{fmt.Errorf("creating topic: %w", kerr.TopicAuthorizationFailed), "eddy acl list"},
		{fmt.Errorf("creating ACLs: %w", kerr.ClusterAuthorizationFailed), "eddy acl list"},
	} {
		got := Explain(tt.err)
		if !strings.Contains(got.Error(), "\nhint: ") || !strings.Contains(got.Error(), tt.hint) {
			t.Errorf("Explain(%v) = %v, want a hint with %q", tt.err, got, tt.hint)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("Explain(%v) no longer matches the original", tt.err)
		}
	}
}
