package meta

// SCRAM credentials (KIP-554): what the metadata keeps of each user's
// password, per mechanism, as KRaft's UserScramCredentialRecord and
// RemoveUserScramCredentialRecord keep it. A password itself is never
// stored: only the salt, the iteration count and the two keys a SCRAM
// server needs (auth.Credential).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/eddy-streaming/eddy/internal/auth"
)

var (
	// ErrUnknownScramCredential refuses the removal of a credential the
	// user does not have (deleted meanwhile by another request).
	ErrUnknownScramCredential = errors.New("meta: no such SCRAM credential")
	// ErrScramCredentialExists refuses a create-only credential the user
	// already has: another node created the bootstrap user first.
	ErrScramCredentialExists = errors.New("meta: SCRAM credential already exists")
)

// ScramCredentialRecord sets one user's credential for one mechanism,
// creating or replacing it (Kafka's UserScramCredentialRecord).
type ScramCredentialRecord struct {
	User       string
	Credential auth.Credential
	// CreateOnly refuses the record with ErrScramCredentialExists when the
	// user already has a credential for the mechanism, so that nodes
	// racing to create the bootstrap user never overwrite one another.
	CreateOnly bool
}

// RemoveScramCredentialRecord removes one user's credential for one
// mechanism (Kafka's RemoveUserScramCredentialRecord).
type RemoveScramCredentialRecord struct {
	User      string
	Mechanism auth.Mechanism
}

func (ScramCredentialRecord) recordType() recordType       { return typeScramCredential }
func (RemoveScramCredentialRecord) recordType() recordType { return typeRemoveScramCredential }

// userCredentials are one user's credentials by mechanism; an Image's
// are replaced whole, never modified.
type userCredentials map[auth.Mechanism]auth.Credential

func (img *Image) applyScramCredential(r ScramCredentialRecord) error {
	if err := checkCredential(r.User, r.Credential); err != nil {
		return fmt.Errorf("%w: SCRAM credential of user %q: %s", ErrInvalidRecord, r.User, err)
	}
	cur := img.users[r.User]
	if _, ok := cur[r.Credential.Mechanism]; ok && r.CreateOnly {
		return fmt.Errorf("%w: user %q, %v", ErrScramCredentialExists, r.User, r.Credential.Mechanism)
	}
	next := maps.Clone(cur)
	if next == nil {
		next = userCredentials{}
	}
	next[r.Credential.Mechanism] = cloneCredential(r.Credential)
	if img.users == nil {
		img.users = map[string]userCredentials{}
	}
	img.users[r.User] = next
	return nil
}

func (img *Image) applyRemoveScramCredential(r RemoveScramCredentialRecord) error {
	cur := img.users[r.User]
	if _, ok := cur[r.Mechanism]; !ok {
		return fmt.Errorf("%w: user %q, %v", ErrUnknownScramCredential, r.User, r.Mechanism)
	}
	next := maps.Clone(cur)
	delete(next, r.Mechanism)
	if len(next) == 0 {
		delete(img.users, r.User)
	} else {
		img.users[r.User] = next
	}
	if len(img.users) == 0 {
		img.users = nil
	}
	return nil
}

// checkCredential checks what every stored credential must be: a named
// user, a known mechanism, Kafka's iteration bounds, a salt, and keys of
// the mechanism's hash size.
func checkCredential(user string, c auth.Credential) error {
	h := c.Mechanism.Hash()
	switch {
	case user == "":
		return errors.New("empty user name")
	case h == nil:
		return fmt.Errorf("unknown mechanism %d", c.Mechanism)
	case c.Iterations < auth.MinIterations || c.Iterations > auth.MaxIterations:
		return fmt.Errorf("%d iterations, want %d to %d", c.Iterations, auth.MinIterations, auth.MaxIterations)
	case len(c.Salt) == 0:
		return errors.New("empty salt")
	case len(c.StoredKey) != h().Size() || len(c.ServerKey) != h().Size():
		return fmt.Errorf("keys of %d and %d bytes, want %d", len(c.StoredKey), len(c.ServerKey), h().Size())
	}
	return nil
}

func cloneCredential(c auth.Credential) auth.Credential {
	c.Salt, c.StoredKey, c.ServerKey = bytes.Clone(c.Salt), bytes.Clone(c.StoredKey), bytes.Clone(c.ServerKey)
	return c
}

// ScramCredential returns user's credential for mechanism m: what the
// SASL listener checks a login against. It copies that one credential
// only, so it is cheap enough for every authentication.
func (img *Image) ScramCredential(user string, m auth.Mechanism) (auth.Credential, bool) {
	c, ok := img.users[user][m]
	if !ok {
		return auth.Credential{}, false
	}
	return cloneCredential(c), true
}

// ScramUsers returns the users that have a SCRAM credential, sorted.
func (img *Image) ScramUsers() []string { return slices.Sorted(maps.Keys(img.users)) }

// ScramCredentials returns user's credentials in mechanism order; none
// if the user has none (DescribeUserScramCredentials' RESOURCE_NOT_FOUND).
func (img *Image) ScramCredentials(user string) []auth.Credential {
	creds := img.users[user]
	out := make([]auth.Credential, 0, len(creds))
	for _, m := range slices.Sorted(maps.Keys(creds)) {
		out = append(out, cloneCredential(creds[m]))
	}
	return out
}

// scramFlagCreateOnly is ScramCredentialRecord's flag bit 0.
const scramFlagCreateOnly = 1

// appendCredential encodes a credential as both a record and the state
// file carry it.
func appendCredential(b []byte, c auth.Credential) []byte {
	b = append(b, byte(c.Mechanism))
	b = binary.BigEndian.AppendUint32(b, uint32(c.Iterations))
	b = appendBytes(b, c.Salt)
	b = appendBytes(b, c.StoredKey)
	return appendBytes(b, c.ServerKey)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// minCredentialLen is the fewest bytes a credential encodes to.
const minCredentialLen = 1 + 4 + 1 + 1 + 1

func (r *reader) credential() auth.Credential {
	c := auth.Credential{Mechanism: auth.Mechanism(int8(r.u8())), Iterations: int32(r.u32())}
	c.Salt = r.byteString()
	c.StoredKey = r.byteString()
	c.ServerKey = r.byteString()
	return c
}

// byteString reads a length-prefixed byte string, copied out of the input.
func (r *reader) byteString() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(fmt.Sprintf("byte string length %d exceeds remaining %d bytes", n, len(r.b)))
		return nil
	}
	return bytes.Clone(r.bytes(int(n)))
}

func (r *reader) scramCredentialRecord() ScramCredentialRecord {
	rec := ScramCredentialRecord{User: r.str(len(r.b)), Credential: r.credential()}
	flags := r.u8()
	if flags&^scramFlagCreateOnly != 0 {
		r.fail(fmt.Sprintf("unknown SCRAM credential flags %#x", flags))
	}
	rec.CreateOnly = flags&scramFlagCreateOnly != 0
	return rec
}

// appendUsers encodes the users section of the state file (version 6):
// users in name order, each one's credentials in mechanism order.
func appendUsers(b []byte, users map[string]userCredentials) []byte {
	b = binary.AppendUvarint(b, uint64(len(users)))
	for _, name := range slices.Sorted(maps.Keys(users)) {
		b = appendString(b, name)
		creds := users[name]
		b = binary.AppendUvarint(b, uint64(len(creds)))
		for _, m := range slices.Sorted(maps.Keys(creds)) {
			b = appendCredential(b, creds[m])
		}
	}
	return b
}

// minUserLen is the fewest bytes a user of the state file encodes to.
const minUserLen = 1 + 1 + 1 + minCredentialLen

// users reads the users section into img, each credential through the
// record that creates it, so a file holds only what records can create.
func (r *reader) users(img *Image) {
	n := r.count(minUserLen)
	for i := uint64(0); i < n && r.err == nil; i++ {
		name := r.str(len(r.b))
		if img.users[name] != nil {
			r.fail(fmt.Sprintf("user %q listed twice", name))
		}
		k := r.count(minCredentialLen)
		if k == 0 {
			r.fail(fmt.Sprintf("user %q without credentials", name))
		}
		for j := uint64(0); j < k && r.err == nil; j++ {
			rec := ScramCredentialRecord{User: name, Credential: r.credential(), CreateOnly: true}
			if r.err == nil {
				if err := img.applyScramCredential(rec); err != nil {
					r.fail(err.Error())
				}
			}
		}
	}
}
