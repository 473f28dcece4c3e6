package auth

// The server side of the SASL mechanisms the Kafka listener accepts: PLAIN
// (RFC 4616), checked against the SCRAM store, and SCRAM-SHA-256/512
// (RFC 5802, no channel binding), as Kafka's PlainSaslServer and
// ScramSaslServer answer them. A Server is one conversation: not safe for
// concurrent use, and used by one connection at a time.
//
// The few lines of RFC 5802 are written out here instead of taking
// github.com/xdg-go/scram: its server wants its own credential type and
// lookup, hides which step failed (Kafka tells the client nothing but
// still logs it), and treats Kafka's "tokenauth" extension as any other;
// Kafka's rules (authzid must equal the user, tokenauth refused since Eddy
// has no delegation tokens) are easier to keep exact in code we own.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrBadCredentials is an authentication that failed on the user or
	// password. The client is told only that its credentials were
	// invalid, never which, so that it learns nothing about who exists.
	ErrBadCredentials = errors.New("auth: invalid credentials")
	// ErrMalformed is a SASL message that does not follow its mechanism.
	ErrMalformed = errors.New("auth: malformed SASL message")
	// ErrRefused is a well-formed request the server will not grant
	// (another authorization id, a delegation token, channel binding).
	ErrRefused = errors.New("auth: SASL request refused")
	// ErrExchangeOver is a token sent after the exchange ended.
	ErrExchangeOver = errors.New("auth: SASL exchange already complete")
)

// PLAIN is the SASL name of the PLAIN mechanism.
const PLAIN = "PLAIN"

// Server is the server side of one SASL exchange.
type Server interface {
	// Step answers the client's next token. done reports that the
	// exchange succeeded with this answer (which may be empty yet must
	// still be sent). An error fails the exchange.
	Step(token []byte) (answer []byte, done bool, err error)
	// User is the name the client authenticates as, once known ("" before).
	User() string
}

// NewServer starts the server side of mechanism, which must be PLAIN or a
// SCRAM mechanism. secret keys the fake credentials of unknown users.
func NewServer(mechanism string, lookup Lookup, secret []byte) (Server, error) {
	if mechanism == PLAIN {
		return &plainServer{lookup: lookup}, nil
	}
	m, ok := ParseMechanism(mechanism)
	if !ok {
		return nil, fmt.Errorf("%w: %q", errUnknownMechanism, mechanism)
	}
	return &scramServer{m: m, lookup: lookup, secret: secret}, nil
}

// ParsePlain splits a PLAIN message, [authzid] NUL authcid NUL passwd. As
// Kafka, the user and password must not be empty and an authorization id,
// if any, must be the user.
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message has %d NUL-separated fields, want 3", ErrMalformed, len(parts))
	}
	zid, user, password := string(parts[0]), string(parts[1]), string(parts[2])
	switch {
	case user == "":
		return "", "", fmt.Errorf("%w: PLAIN message has no username", ErrMalformed)
	case password == "":
		return "", "", fmt.Errorf("%w: PLAIN message has no password", ErrMalformed)
	case zid != "" && zid != user:
		return "", "", fmt.Errorf("%w: authorization id %q is not the username", ErrRefused, zid)
	}
	return user, password, nil
}

type plainServer struct {
	lookup Lookup
	user   string
	done   bool
}

func (s *plainServer) User() string { return s.user }

// Step checks the one PLAIN message against the user's SCRAM credential,
// trying SHA-512 first (either proves the password). An unknown user costs
// the same derivation as a known one, so timing does not tell them apart.
func (s *plainServer) Step(token []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, ErrExchangeOver
	}
	s.done = true
	user, password, err := ParsePlain(token)
	if err != nil {
		return nil, false, err
	}
	s.user = user
	cred, ok := PasswordCredential(s.lookup, user)
	if !cred.VerifyPassword(password) || !ok {
		return nil, false, fmt.Errorf("%w: PLAIN password for %q", ErrBadCredentials, user)
	}
	return []byte{}, true, nil
}

// PasswordCredential is the credential a password of user is checked
// against (PLAIN, HTTP basic auth): the SCRAM-SHA-512 one, else the
// SCRAM-SHA-256 one. For an unknown user ok is false and the credential a
// stand-in, so that checking it costs as much as checking a real one.
func PasswordCredential(lookup Lookup, user string) (cred Credential, ok bool) {
	if cred, ok = lookup(user, ScramSHA512); !ok {
		cred, ok = lookup(user, ScramSHA256)
	}
	if !ok {
		return unknownUserCredential, false
	}
	return cred, true
}

// unknownUserCredential is checked in place of a missing user's, so a
// PLAIN failure for an unknown user takes as long as a wrong password.
var unknownUserCredential = func() Credential {
	c, err := NewCredential(ScramSHA512, "unknown user", MinIterations)
	if err != nil {
		panic(err)
	}
	return c
}()

// scramServer is RFC 5802's server: client-first → server-first,
// client-final → server-final.
type scramServer struct {
	m      Mechanism
	lookup Lookup
	secret []byte
	step   int

	user        string
	cred        Credential
	known       bool
	gs2Header   string
	nonce       string // client's and ours
	firstBare   string // client-first-message-bare
	serverFirst string
}

func (s *scramServer) User() string { return s.user }

func (s *scramServer) Step(token []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		answer, err := s.clientFirst(string(token))
		return answer, false, err
	case 2:
		answer, err := s.clientFinal(string(token))
		return answer, err == nil, err
	}
	return nil, false, ErrExchangeOver
}

// ClientFirst is a parsed SCRAM client-first message.
type ClientFirst struct {
	GS2Header string // "n," or "y," plus the authzid, and the closing ","
	AuthzID   string
	User      string
	Nonce     string
	Bare      string // client-first-message-bare, part of the signed AuthMessage
	TokenAuth bool   // Kafka's tokenauth=true extension (KIP-48)
}

// ParseClientFirst parses a SCRAM client-first message:
//
//	gs2-cbind-flag "," [ "a=" saslname ] "," [ "m=" ... "," ] "n=" saslname "," "r=" nonce [ "," extensions ]
//
// Channel binding ("p=") and mandatory extensions ("m=") are refused, as
// Kafka refuses them.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM client-first message has no GS2 header", ErrMalformed)
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return cf, fmt.Errorf("%w: SCRAM channel binding is not supported", ErrRefused)
	default:
		return cf, fmt.Errorf("%w: SCRAM GS2 flag %q", ErrMalformed, flag)
	}
	zid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM GS2 header not closed", ErrMalformed)
	}
	if zid != "" {
		name, found := strings.CutPrefix(zid, "a=")
		var err error
		if !found {
			return cf, fmt.Errorf("%w: SCRAM authorization id %q", ErrMalformed, zid)
		}
		if cf.AuthzID, err = unescapeSASLName(name); err != nil {
			return cf, err
		}
	}
	cf.GS2Header, cf.Bare = msg[:len(msg)-len(bare)], bare
	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return cf, fmt.Errorf("%w: SCRAM mandatory extension", ErrRefused)
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return cf, fmt.Errorf("%w: SCRAM client-first message wants n=user,r=nonce", ErrMalformed)
	}
	var err error
	if cf.User, err = unescapeSASLName(attrs[0][2:]); err != nil {
		return cf, err
	}
	if cf.User == "" {
		return cf, fmt.Errorf("%w: SCRAM username is empty", ErrMalformed)
	}
	if cf.Nonce = attrs[1][2:]; !validNonce(cf.Nonce) {
		return cf, fmt.Errorf("%w: SCRAM client nonce is empty or not printable", ErrMalformed)
	}
	for _, ext := range attrs[2:] {
		k, v, _ := strings.Cut(ext, "=")
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			cf.TokenAuth = true
		}
	}
	return cf, nil
}

func (s *scramServer) clientFirst(msg string) ([]byte, error) {
	cf, err := ParseClientFirst(msg)
	if err != nil {
		return nil, err
	}
	s.user = cf.User
	switch {
	case cf.TokenAuth:
		return nil, fmt.Errorf("%w: delegation tokens (tokenauth) are not supported", ErrRefused)
	case cf.AuthzID != "" && cf.AuthzID != cf.User:
		return nil, fmt.Errorf("%w: authorization id %q is not the username", ErrRefused, cf.AuthzID)
	}
	s.cred, s.known = s.lookup(cf.User, s.m)
	if !s.known {
		s.cred = s.fakeCredential(cf.User)
	}
	ours := make([]byte, 24)
	rand.Read(ours)
	s.gs2Header, s.firstBare = cf.GS2Header, cf.Bare
	s.nonce = cf.Nonce + base64.RawStdEncoding.EncodeToString(ours)
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) +
		",i=" + strconv.Itoa(int(s.cred.Iterations))
	return []byte(s.serverFirst), nil
}

// fakeCredential stands in for a user that does not exist: the same salt
// every time (derived from the user and the server's secret) so a prober
// cannot tell it from a real one, and keys no proof matches.
func (s *scramServer) fakeCredential(user string) Credential {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(s.m.String() + "\x00" + user))
	salt := h.Sum(nil)
	random := make([]byte, 2*s.m.Hash()().Size())
	rand.Read(random)
	half := len(random) / 2
	return Credential{Mechanism: s.m, Salt: salt, Iterations: MinIterations, StoredKey: random[:half], ServerKey: random[half:]}
}

// ClientFinal is a parsed SCRAM client-final message:
//
//	"c=" base64(gs2-header) "," "r=" nonce [ "," extensions ] "," "p=" base64(proof)
type ClientFinal struct {
	ChannelBinding string // still base64
	Nonce          string
	WithoutProof   string // the part signed in AuthMessage
	Proof          []byte
}

// ParseClientFinal parses a SCRAM client-final message.
func ParseClientFinal(msg string) (ClientFinal, error) {
	var cf ClientFinal
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return cf, fmt.Errorf("%w: SCRAM client-final message has no proof", ErrMalformed)
	}
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return cf, fmt.Errorf("%w: SCRAM proof is not base64", ErrMalformed)
	}
	cf.Proof = proof
	attrs := strings.Split(cf.WithoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return cf, fmt.Errorf("%w: SCRAM client-final message wants c=...,r=...", ErrMalformed)
	}
	cf.ChannelBinding, cf.Nonce = attrs[0][2:], attrs[1][2:]
	return cf, nil
}

func (s *scramServer) clientFinal(msg string) ([]byte, error) {
	cf, err := ParseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	switch {
	case cf.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)):
		return nil, fmt.Errorf("%w: SCRAM channel binding does not repeat the GS2 header", ErrMalformed)
	case !strings.HasSuffix(cf.Nonce, s.nonce):
		// A suffix, as Kafka's ScramSaslServer checks: librdkafka 2.0
		// sends its own nonce again in front of the combined one.
		return nil, fmt.Errorf("%w: SCRAM nonce does not match", ErrMalformed)
	}
	h := s.m.Hash()
	authMessage := []byte(s.firstBare + "," + s.serverFirst + "," + cf.WithoutProof)
	signature := mac(h, s.cred.StoredKey, string(authMessage))
	if len(cf.Proof) != len(signature) {
		return nil, fmt.Errorf("%w: SCRAM proof of %d bytes, want %d", ErrMalformed, len(cf.Proof), len(signature))
	}
	clientKey := make([]byte, len(signature))
	for i := range signature {
		clientKey[i] = cf.Proof[i] ^ signature[i]
	}
	stored := h()
	stored.Write(clientKey)
	if subtle.ConstantTimeCompare(stored.Sum(nil), s.cred.StoredKey) != 1 || !s.known {
		return nil, fmt.Errorf("%w: %s proof for %q", ErrBadCredentials, s.m, s.user)
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, s.cred.ServerKey, string(authMessage)))), nil
}

// unescapeSASLName undoes RFC 5802's escaping of "," as "=2C" and "=" as
// "=3D"; any other "=" is malformed.
func unescapeSASLName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in SCRAM name %q", ErrMalformed, s)
		}
		i += 2
	}
	return b.String(), nil
}

// validNonce: printable ASCII except ",", and not empty.
func validNonce(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e || n[i] == ',' {
			return false
		}
	}
	return n != ""
}
