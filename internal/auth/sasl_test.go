package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testStore holds alice's credentials for both SCRAM mechanisms, and bob's
// for SHA-256 only.
func testStore(t testing.TB) Lookup {
	t.Helper()
	creds := map[string]Credential{}
	for _, u := range []struct {
		user, password string
		m              Mechanism
	}{{"alice", "alice-secret", ScramSHA256}, {"alice", "alice-secret", ScramSHA512}, {"bob", "bob,=secret", ScramSHA256}} {
		c, err := NewCredential(u.m, u.password, MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		creds[u.user+"/"+u.m.String()] = c
	}
	return func(user string, m Mechanism) (Credential, bool) {
		c, ok := creds[user+"/"+m.String()]
		return c, ok
	}
}

// converse runs franz-go's client side of mech against our server side,
// as the connection would: the client's first message, then each answer
// fed back until both sides are done.
func converse(t *testing.T, mech sasl.Mechanism, lookup Lookup) (user string, err error) {
	t.Helper()
	session, token, err := mech.Authenticate(context.Background(), "eddy:9092")
	if err != nil {
		t.Fatalf("client start: %v", err)
	}
	srv, err := NewServer(mech.Name(), lookup, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		answer, done, err := srv.Step(token)
		if err != nil {
			return srv.User(), err
		}
		clientDone, next, err := session.Challenge(answer)
		if err != nil {
			t.Fatalf("client rejected the server's answer %q: %v", answer, err)
		}
		if done {
			if !clientDone || len(next) > 0 {
				t.Fatalf("server done but client is not (done %v, next %q)", clientDone, next)
			}
			return srv.User(), nil
		}
		token = next
	}
	t.Fatal("exchange did not end")
	return "", nil
}

func TestSASLExchanges(t *testing.T) {
	lookup := testStore(t)
	scramAuth := func(user, pass, zid string, token bool) scram.Auth {
		return scram.Auth{User: user, Pass: pass, Zid: zid, IsToken: token}
	}
	for _, tc := range []struct {
		name    string
		mech    sasl.Mechanism
		want    error // nil: success as "alice" or "bob"
		wantUsr string
	}{
		{"plain", plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), nil, "alice"},
		{"plain with authzid", plain.Auth{Zid: "alice", User: "alice", Pass: "alice-secret"}.AsMechanism(), nil, "alice"},
		{"plain sha-256 only user", plain.Auth{User: "bob", Pass: "bob,=secret"}.AsMechanism(), nil, "bob"},
		{"plain wrong password", plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism(), ErrBadCredentials, "alice"},
		{"plain unknown user", plain.Auth{User: "mallory", Pass: "x"}.AsMechanism(), ErrBadCredentials, "mallory"},
		{"plain other authzid", plain.Auth{Zid: "bob", User: "alice", Pass: "alice-secret"}.AsMechanism(), ErrRefused, ""},
		{"scram-256", scramAuth("alice", "alice-secret", "", false).AsSha256Mechanism(), nil, "alice"},
		{"scram-512", scramAuth("alice", "alice-secret", "", false).AsSha512Mechanism(), nil, "alice"},
		{"scram escaped name and password", scramAuth("bob", "bob,=secret", "", false).AsSha256Mechanism(), nil, "bob"},
		{"scram same authzid", scramAuth("alice", "alice-secret", "alice", false).AsSha256Mechanism(), nil, "alice"},
		{"scram wrong password", scramAuth("alice", "nope", "", false).AsSha512Mechanism(), ErrBadCredentials, "alice"},
		{"scram unknown user", scramAuth("mallory", "x", "", false).AsSha256Mechanism(), ErrBadCredentials, "mallory"},
		{"scram no credential for the mechanism", scramAuth("bob", "bob,=secret", "", false).AsSha512Mechanism(), ErrBadCredentials, "bob"},
		{"scram other authzid", scramAuth("alice", "alice-secret", "bob", false).AsSha256Mechanism(), ErrRefused, "alice"},
		{"scram tokenauth", scramAuth("alice", "alice-secret", "", true).AsSha256Mechanism(), ErrRefused, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, err := converse(t, tc.mech, lookup)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if user != tc.wantUsr {
				t.Fatalf("user %q, want %q", user, tc.wantUsr)
			}
		})
	}
}

// TestSCRAMUnknownUserLooksReal checks that an unknown user gets a
// server-first message like a real one, with the same salt each time, so
// probing does not reveal who exists.
func TestSCRAMUnknownUserLooksReal(t *testing.T) {
	first := func() string {
		srv, _ := NewServer("SCRAM-SHA-256", testStore(t), []byte("secret"))
		answer, _, err := srv.Step([]byte("n,,n=mallory,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return string(answer)
	}
	a, b := first(), first()
	salt := func(s string) string { return strings.Split(s, ",")[1] }
	if salt(a) != salt(b) || !strings.Contains(a, ",i=4096") {
		t.Fatalf("unknown user answers %q then %q", a, b)
	}
}

func TestSCRAMBadMessages(t *testing.T) {
	for _, tc := range []struct {
		first, final string // final "" : the first message fails
		want         error
	}{
		{"", "", ErrMalformed},
		{"n,,", "", ErrMalformed},
		{"p=tls-unique,,n=alice,r=abc", "", ErrRefused},
		{"x,,n=alice,r=abc", "", ErrMalformed},
		{"n,,m=ext,n=alice,r=abc", "", ErrRefused},
		{"n,,n=al=ice,r=abc", "", ErrMalformed},
		{"n,,n=,r=abc", "", ErrMalformed},
		{"n,,n=alice,r=", "", ErrMalformed},
		{"n,,n=alice,r=a\x01", "", ErrMalformed},
		{"n,a,n=alice,r=abc", "", ErrMalformed},
		{"n,,n=alice,r=abc", "c=biws,r=abc,p=AAAA", ErrMalformed},                                       // nonce without ours
		{"n,,n=alice,r=abc", "c=eSws,r=abc,p=AAAA", ErrMalformed},                                       // other GS2 header
		{"n,,n=alice,r=abc", "c=biws,r=abc", ErrMalformed},                                              // no proof
		{"n,,n=alice,r=abc", "c=biws,r=abc,p=!!", ErrMalformed},                                         // proof not base64
		{"n,,n=alice,r=abc", "r=abc,c=biws,p=AAAA", ErrMalformed},                                       // order
		{"n,,n=alice,r=abc", "c=biws,r=NONCE,p=AAAA", ErrMalformed},                                     // short proof
		{"n,,n=alice,r=abc", "c=biws,r=NONCE,p=" + strings.Repeat("A", 43) + "=", ErrBadCredentials},    // wrong proof
		{"n,,n=alice,r=abc", "c=biws,r=abcNONCE,p=" + strings.Repeat("A", 43) + "=", ErrBadCredentials}, // librdkafka's nonce: checked on
	} {
		srv, _ := NewServer("SCRAM-SHA-256", testStore(t), []byte("secret"))
		answer, _, err := srv.Step([]byte(tc.first))
		if tc.final == "" {
			if !errors.Is(err, tc.want) {
				t.Errorf("first %q: %v, want %v", tc.first, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("first %q: %v", tc.first, err)
		}
		nonce := strings.TrimPrefix(strings.Split(string(answer), ",")[0], "r=")
		final := strings.Replace(tc.final, "NONCE", nonce, 1)
		if _, _, err := srv.Step([]byte(final)); !errors.Is(err, tc.want) {
			t.Errorf("final %q: %v, want %v", final, err, tc.want)
		}
		if _, _, err := srv.Step([]byte(final)); !errors.Is(err, ErrExchangeOver) {
			t.Errorf("a third step: %v", err)
		}
	}
}

// FuzzSASLMessages feeds arbitrary bytes to every parser of client SASL
// messages and to a SCRAM exchange: none may panic, and what parses as a
// client-first message keeps its parts in place.
func FuzzSASLMessages(f *testing.F) {
	for _, seed := range []string{
		"\x00alice\x00alice-secret", "alice\x00alice\x00pw", "\x00\x00", "a\x00b",
		"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", "y,a=alice,n=alice,r=abc,tokenauth=true",
		"n,,n=b=2Cob=3D,r=x", "p=tls,,n=a,r=b", "c=biws,r=abc,p=dGVzdA==",
	} {
		f.Add([]byte(seed))
	}
	lookup := testStore(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		ParsePlain(msg)
		ParseClientFinal(string(msg))
		if cf, err := ParseClientFirst(string(msg)); err == nil {
			if cf.GS2Header+cf.Bare != string(msg) || cf.User == "" || !validNonce(cf.Nonce) {
				t.Fatalf("%q parsed as %+v", msg, cf)
			}
		}
		for _, m := range []string{PLAIN, "SCRAM-SHA-512"} {
			srv, _ := NewServer(m, lookup, []byte("k"))
			srv.Step(msg)
			srv.Step(msg)
		}
	})
}

// TestSCRAMLibrdkafkaNonce runs the exchange as librdkafka 2.0 does: its
// client-final message repeats its own nonce before the combined one. Kafka
// accepts that (the nonce need only end with the combined one), and so must
// Eddy, with the proof computed over the message as sent.
func TestSCRAMLibrdkafkaNonce(t *testing.T) {
	srv, _ := NewServer("SCRAM-SHA-256", testStore(t), []byte("secret"))
	serverFirst, _, err := srv.Step([]byte("n,,n=alice,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	attrs := strings.Split(string(serverFirst), ",")
	nonce := strings.TrimPrefix(attrs[0], "r=")
	salt, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(attrs[1], "s="))
	iters, _ := strconv.Atoi(strings.TrimPrefix(attrs[2], "i="))
	salted, err := pbkdf2.Key(sha256.New, "alice-secret", salt, iters, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	cred := FromSaltedPassword(ScramSHA256, salted, salt, int32(iters))
	withoutProof := "c=biws,r=abc" + nonce
	authMessage := "n=alice,r=abc," + string(serverFirst) + "," + withoutProof
	proof := mac(sha256.New, salted, "Client Key")
	for i, b := range mac(sha256.New, cred.StoredKey, authMessage) {
		proof[i] ^= b
	}
	serverFinal, done, err := srv.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
	if err != nil || !done {
		t.Fatalf("librdkafka's client-final refused: %v", err)
	}
	if want := "v=" + base64.StdEncoding.EncodeToString(mac(sha256.New, cred.ServerKey, authMessage)); string(serverFinal) != want {
		t.Fatalf("server-final %q, want %q", serverFinal, want)
	}
}
