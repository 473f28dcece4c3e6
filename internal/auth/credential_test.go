package auth

import (
	"encoding/base64"
	"testing"
)

// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil", salt
// W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations, whose ServerSignature the RFC
// derives from the keys checked here.
func TestDeriveCredentialRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	c, err := DeriveCredential(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// StoredKey and ServerKey as computed by the RFC's worked example
	// (verified independently with Python's hashlib.pbkdf2_hmac).
	const stored, server = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=", "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if got := base64.StdEncoding.EncodeToString(c.StoredKey); got != stored {
		t.Errorf("StoredKey %s, want %s", got, stored)
	}
	if got := base64.StdEncoding.EncodeToString(c.ServerKey); got != server {
		t.Errorf("ServerKey %s, want %s", got, server)
	}
}

func TestVerifyPassword(t *testing.T) {
	for _, m := range Mechanisms {
		c, err := NewCredential(m, "s3cret", MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if !c.VerifyPassword("s3cret") || c.VerifyPassword("s3cret ") || c.VerifyPassword("") {
			t.Errorf("%v: password check wrong", m)
		}
	}
}

func TestDeriveCredentialRefuses(t *testing.T) {
	for _, tc := range []struct {
		m     Mechanism
		iters int32
	}{{3, 4096}, {ScramSHA256, 4095}, {ScramSHA512, MaxIterations + 1}} {
		if _, err := DeriveCredential(tc.m, "p", []byte("salt"), tc.iters); err == nil {
			t.Errorf("%v with %d iterations accepted", tc.m, tc.iters)
		}
	}
}
