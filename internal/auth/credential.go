// Package auth holds what authentication shares between the listener that
// checks it and the metadata that stores it: SCRAM credentials (RFC 5802),
// which are all Eddy ever keeps of a password.
//
// Everything here is pure and safe for concurrent use.
package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
)

var (
	errUnknownMechanism = errors.New("auth: unknown SCRAM mechanism")
	errIterations       = errors.New("auth: SCRAM iterations out of range")
)

// Mechanism is a SCRAM mechanism, numbered as Kafka's
// AlterUserScramCredentials and DescribeUserScramCredentials number them.
type Mechanism int8

const (
	ScramSHA256 Mechanism = 1
	ScramSHA512 Mechanism = 2
)

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and
// the broker's upper limit).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// Mechanisms lists the SCRAM mechanisms in Kafka's order.
var Mechanisms = []Mechanism{ScramSHA256, ScramSHA512}

// ParseMechanism maps a SASL mechanism name to its Mechanism.
func ParseMechanism(name string) (Mechanism, bool) {
	switch name {
	case "SCRAM-SHA-256":
		return ScramSHA256, true
	case "SCRAM-SHA-512":
		return ScramSHA512, true
	}
	return 0, false
}

// String is the SASL name of the mechanism.
func (m Mechanism) String() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("SCRAM-UNKNOWN(%d)", int8(m))
}

// Hash returns the mechanism's hash constructor, nil for an unknown one.
func (m Mechanism) Hash() func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// Credential is what is stored of one user's password for one mechanism.
type Credential struct {
	Mechanism  Mechanism
	Salt       []byte
	Iterations int32
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// Lookup finds a user's credential for a mechanism; false if the user has
// none for it.
type Lookup func(user string, m Mechanism) (Credential, bool)

// NewCredential derives the credential of password with a fresh random
// salt.
func NewCredential(m Mechanism, password string, iterations int32) (Credential, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	return DeriveCredential(m, password, salt, iterations)
}

// DeriveCredential derives the credential of password with the given salt,
// as AlterUserScramCredentials does from a client's salted password too
// (see FromSaltedPassword).
func DeriveCredential(m Mechanism, password string, salt []byte, iterations int32) (Credential, error) {
	h := m.Hash()
	if h == nil {
		return Credential{}, fmt.Errorf("%w: %d", errUnknownMechanism, m)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return Credential{}, fmt.Errorf("%w: %d (want %d to %d)", errIterations, iterations, MinIterations, MaxIterations)
	}
	salted, err := pbkdf2.Key(h, password, salt, int(iterations), h().Size())
	if err != nil {
		return Credential{}, fmt.Errorf("auth: salting password: %w", err)
	}
	return FromSaltedPassword(m, salted, salt, iterations), nil
}

// FromSaltedPassword makes the credential from a salted password, which is
// what a client sends in AlterUserScramCredentials (the password itself
// never reaches the broker then).
func FromSaltedPassword(m Mechanism, salted, salt []byte, iterations int32) Credential {
	h := m.Hash()
	clientKey := mac(h, salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return Credential{Mechanism: m, Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: stored.Sum(nil), ServerKey: mac(h, salted, "Server Key")}
}

// VerifyPassword reports whether password is the one c was derived from:
// how SASL/PLAIN checks a password against the SCRAM store.
func (c Credential) VerifyPassword(password string) bool {
	again, err := DeriveCredential(c.Mechanism, password, c.Salt, c.Iterations)
	return err == nil && subtle.ConstantTimeCompare(again.StoredKey, c.StoredKey) == 1
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
