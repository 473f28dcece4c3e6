package clienttest

import (
	"testing"

	"github.com/eddy-streaming/eddy/internal/testpki"
)

// TLSFiles are PEM files made for one test in its temporary directory: a
// CA, a broker certificate for 127.0.0.1 and localhost, and a client
// certificate, both signed by the CA.
type TLSFiles struct {
	CA         string
	ServerCert string
	ServerKey  string
	ClientCert string
	ClientKey  string

	ca *testpki.CA
}

// TLS makes a fresh CA and the certificates it signs; the client
// certificate's subject CN is clientCN (the principal under mTLS).
func TLS(t testing.TB, clientCN string) TLSFiles {
	t.Helper()
	ca := testpki.New(t)
	f := TLSFiles{CA: ca.File, ca: ca}
	f.ServerCert, f.ServerKey = ca.Issue(t, "server", "localhost")
	f.ClientCert, f.ClientKey = f.Client(t, clientCN)
	return f
}

// Client issues another client certificate under the same CA, with
// subject CN cn, and returns its certificate and key files.
func (f TLSFiles) Client(t testing.TB, cn string) (cert, key string) {
	t.Helper()
	return f.ca.Issue(t, "client-"+cn, cn)
}
