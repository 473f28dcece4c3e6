package meta

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
)

// ACL is one access control binding with the id its ACLRecord gave it
// (Kafka's StandardAclWithId).
type ACL struct {
	ID [16]byte
	acl.Binding
}

// ACLRecord creates an ACL (Kafka's AccessControlEntryRecord). A binding
// the image already holds under another id changes nothing: two nodes may
// propose the same binding at once, and the second must not fail its
// batch or leave a duplicate.
type ACLRecord struct {
	ID [16]byte
	acl.Binding
}

// RemoveACLRecord removes the ACL with ID (Kafka's
// RemoveAccessControlEntryRecord). An id the image does not hold changes
// nothing, since two nodes may delete the same ACL at once.
type RemoveACLRecord struct {
	ID [16]byte
}

func (ACLRecord) recordType() recordType       { return typeACL }
func (RemoveACLRecord) recordType() recordType { return typeRemoveACL }

// aclTable is an image's ACLs. Images share it until an ACL record
// changes it: the image applying the record copies it first unless it
// made it (owner), so a batch of records copies once. The index the
// authorizer reads is built on first use, once per table.
type aclTable struct {
	owner *Image // the image that may change it in place; never a published one's
	byID  map[[16]byte]acl.Binding
	ids   map[acl.Binding][16]byte

	once  sync.Once
	index *acl.Index
}

// mutableACLs returns img's table, copied first unless img made it.
func (img *Image) mutableACLs() *aclTable {
	if img.acls != nil && img.acls.owner == img {
		return img.acls
	}
	t := &aclTable{owner: img, byID: map[[16]byte]acl.Binding{}, ids: map[acl.Binding][16]byte{}}
	if img.acls != nil {
		t.byID, t.ids = maps.Clone(img.acls.byID), maps.Clone(img.acls.ids)
	}
	img.acls = t
	return t
}

func (img *Image) applyACL(r ACLRecord) error {
	if r.ID == [16]byte{} {
		return fmt.Errorf("%w: acl %v: zero id", ErrInvalidRecord, r.Binding)
	}
	if err := r.Binding.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if img.HasACLID(r.ID) {
		return fmt.Errorf("%w: duplicate acl id %s", ErrInvalidRecord, FormatID(r.ID))
	}
	if _, dup := img.ACLID(r.Binding); dup {
		return nil
	}
	t := img.mutableACLs()
	t.byID[r.ID] = r.Binding
	t.ids[r.Binding] = r.ID
	return nil
}

func (img *Image) applyRemoveACL(r RemoveACLRecord) error {
	if !img.HasACLID(r.ID) {
		return nil
	}
	t := img.mutableACLs()
	delete(t.ids, t.byID[r.ID])
	delete(t.byID, r.ID)
	if len(t.byID) == 0 {
		img.acls = nil
	}
	return nil
}

// HasACLID reports whether an ACL has the given id.
func (img *Image) HasACLID(id [16]byte) bool {
	if img.acls == nil {
		return false
	}
	_, ok := img.acls.byID[id]
	return ok
}

// ACLID returns the id of the ACL with binding b.
func (img *Image) ACLID(b acl.Binding) ([16]byte, bool) {
	if img.acls == nil {
		return [16]byte{}, false
	}
	id, ok := img.acls.ids[b]
	return id, ok
}

// ACLs returns every ACL, sorted by resource type, resource name, pattern
// type, principal, host, operation and permission.
func (img *Image) ACLs() []ACL {
	if img.acls == nil {
		return nil
	}
	out := make([]ACL, 0, len(img.acls.byID))
	for id, b := range img.acls.byID {
		out = append(out, ACL{ID: id, Binding: b})
	}
	slices.SortFunc(out, func(x, y ACL) int {
		return cmp.Or(cmp.Compare(x.ResourceType, y.ResourceType), strings.Compare(x.ResourceName, y.ResourceName),
			cmp.Compare(x.PatternType, y.PatternType), strings.Compare(x.Principal, y.Principal),
			strings.Compare(x.Host, y.Host), cmp.Compare(x.Operation, y.Operation),
			cmp.Compare(x.Permission, y.Permission), bytes.Compare(x.ID[:], y.ID[:]))
	})
	return out
}

// ACLIndex returns the ACLs indexed for authorization. It is built once
// per change of the ACLs, on first use, and shared by the images that
// hold the same ACLs; nil when there are none.
func (img *Image) ACLIndex() *acl.Index {
	t := img.acls
	if t == nil {
		return nil
	}
	t.once.Do(func() { t.index = acl.NewIndex(slices.Collect(maps.Values(t.byID))) })
	return t.index
}

// The encoding of an ACL, in an ACLRecord and in the state file
// (docs/format/meta-records.md):
//
//	id [16]byte | resource_type i8 | resource_name string | pattern_type i8 |
//	principal string | host string | operation i8 | permission i8
func appendACL(b []byte, id [16]byte, x acl.Binding) []byte {
	b = append(b, id[:]...)
	b = append(b, byte(x.ResourceType))
	b = appendString(b, x.ResourceName)
	b = append(b, byte(x.PatternType))
	b = appendString(b, x.Principal)
	b = appendString(b, x.Host)
	return append(b, byte(x.Operation), byte(x.Permission))
}

// minACLLen is the fewest bytes an ACL encodes to.
const minACLLen = 16 + 1 + 1 + 1 + 1 + 1 + 1 + 1

func (r *reader) acl() ACLRecord {
	a := ACLRecord{ID: r.id()}
	a.ResourceType = kmsg.ACLResourceType(int8(r.u8()))
	a.ResourceName = r.str(len(r.b))
	a.PatternType = kmsg.ACLResourcePatternType(int8(r.u8()))
	a.Principal = r.str(len(r.b))
	a.Host = r.str(len(r.b))
	a.Operation = kmsg.ACLOperation(int8(r.u8()))
	a.Permission = kmsg.ACLPermissionType(int8(r.u8()))
	return a
}

// appendACLs writes the state file's ACL section: a count, then each ACL
// in id order.
func appendACLs(b []byte, img *Image) []byte {
	var ids [][16]byte
	if img.acls != nil {
		ids = slices.SortedFunc(maps.Keys(img.acls.byID), func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	}
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendACL(b, id, img.acls.byID[id])
	}
	return b
}

// readACLs reads the state file's ACL section into img, each ACL checked
// as its record would be; a binding twice is corruption here.
func (r *reader) readACLs(img *Image) {
	n := r.count(minACLLen)
	for i := uint64(0); i < n && r.err == nil; i++ {
		a := r.acl()
		if r.err != nil {
			return
		}
		if _, dup := img.ACLID(a.Binding); dup {
			r.fail(fmt.Sprintf("acl %v listed twice", a.Binding))
		} else if err := img.applyACL(a); err != nil {
			r.fail(err.Error())
		}
	}
}
