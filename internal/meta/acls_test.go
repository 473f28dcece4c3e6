package meta

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
)

func sampleBinding(name string, pt kmsg.ACLResourcePatternType) acl.Binding {
	return acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: name, PatternType: pt,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
}

// sampleImageV6 is sampleImageV4 with ACLs.
// sampleImageV7 is sampleImageV6 with ACLs.
func sampleImageV7() *Image {
	img := sampleImageV6()
	deny := sampleBinding("orders", kmsg.ACLResourcePatternTypeLiteral)
	deny.Permission, deny.Host = kmsg.ACLPermissionTypeDeny, "10.1.2.3"
	for i, b := range []acl.Binding{sampleBinding("orders-", kmsg.ACLResourcePatternTypePrefixed), deny,
		{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: acl.ClusterName, PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: acl.WildcardPrincipal, Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow}} {
		if err := img.applyACL(ACLRecord{ID: [16]byte{15: byte(9 - i)}, Binding: b}); err != nil {
			panic(err)
		}
	}
	return img
}

func TestApplyACLs(t *testing.T) {
	lit, pre := sampleBinding("t", kmsg.ACLResourcePatternTypeLiteral), sampleBinding("t", kmsg.ACLResourcePatternTypePrefixed)
	bad := lit
	bad.Operation = kmsg.ACLOperationAny
	id := func(n byte) [16]byte { return [16]byte{15: n} }
	img := NewImage("c")
	for _, step := range []struct {
		r       Record
		wantErr error
		want    []ACL // after the step
	}{
		{ACLRecord{ID: id(1), Binding: lit}, nil, []ACL{{id(1), lit}}},
		{ACLRecord{ID: id(2), Binding: pre}, nil, []ACL{{id(1), lit}, {id(2), pre}}},
		// The same binding again, as two nodes racing would propose it.
		{ACLRecord{ID: id(3), Binding: lit}, nil, []ACL{{id(1), lit}, {id(2), pre}}},
		{ACLRecord{ID: id(1), Binding: sampleBinding("u", kmsg.ACLResourcePatternTypeLiteral)}, ErrInvalidRecord, nil},
		{ACLRecord{Binding: sampleBinding("u", kmsg.ACLResourcePatternTypeLiteral)}, ErrInvalidRecord, nil},
		{ACLRecord{ID: id(4), Binding: bad}, acl.ErrInvalid, nil},
		{RemoveACLRecord{ID: id(1)}, nil, []ACL{{id(2), pre}}},
		{RemoveACLRecord{ID: id(1)}, nil, []ACL{{id(2), pre}}},
		{ACLRecord{ID: id(1), Binding: lit}, nil, []ACL{{id(1), lit}, {id(2), pre}}},
		{RemoveACLRecord{ID: id(2)}, nil, []ACL{{id(1), lit}}},
		{RemoveACLRecord{ID: id(1)}, nil, nil},
	} {
		next, err := Apply(img, step.r)
		if step.wantErr != nil {
			if !errors.Is(err, step.wantErr) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("%#v: %v, want %v", step.r, err, step.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%#v: %v", step.r, err)
		}
		before := img.ACLs()
		if got := next.ACLs(); !reflect.DeepEqual(got, step.want) {
			t.Fatalf("after %#v: %v, want %v", step.r, got, step.want)
		}
		if again := img.ACLs(); !reflect.DeepEqual(again, before) {
			t.Fatalf("%#v changed the image it was applied to: %v, was %v", step.r, again, before)
		}
		img = next
	}
}

// TestACLIndexFollowsChanges checks that an image's index reflects its
// own ACLs, and that images holding the same ACLs share one index.
func TestACLIndexFollowsChanges(t *testing.T) {
	b := sampleBinding("t", kmsg.ACLResourcePatternTypeLiteral)
	authorized := func(img *Image) bool {
		a := acl.New(acl.Config{Index: img.ACLIndex})
		return a.Authorize("User:alice", "h", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "t")
	}
	empty := NewImage("c")
	if empty.ACLIndex() != nil || authorized(empty) {
		t.Fatal("an image without ACLs authorizes")
	}
	one, err := Apply(empty, ACLRecord{ID: [16]byte{1}, Binding: b})
	if err != nil {
		t.Fatal(err)
	}
	if !authorized(one) {
		t.Fatal("the ACL does not allow")
	}
	other, err := Apply(one, ConfigRecord{Type: kmsg.ConfigResourceTypeBroker, Configs: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if other.ACLIndex() != one.ACLIndex() {
		t.Error("an image whose ACLs did not change rebuilt the index")
	}
	none, err := Apply(other, RemoveACLRecord{ID: [16]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	if authorized(none) || !authorized(other) {
		t.Error("removal not reflected, or reflected in the older image")
	}
}

// TestBatchCopiesACLsOnce checks that a batch applied to one clone
// changes the clone's table in place, and the source's never.
func TestBatchCopiesACLsOnce(t *testing.T) {
	src := sampleImageV7()
	next := src.clone()
	for i := range 3 {
		if err := next.apply(ACLRecord{ID: [16]byte{1, byte(i)}, Binding: sampleBinding(string(rune('a'+i)), kmsg.ACLResourcePatternTypeLiteral)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(src.ACLs()) != 3 || len(next.ACLs()) != 6 {
		t.Fatalf("source has %d ACLs (want 3), next %d (want 6)", len(src.ACLs()), len(next.ACLs()))
	}
	if next.acls.owner != next || src.acls.owner != src {
		t.Error("tables not owned by their images")
	}
}

func TestDecodeACLErrors(t *testing.T) {
	img := sampleImageV7()
	good := encodeState(img)
	body := good[headerLen : len(good)-trailerLen]
	if _, err := decodeBody(body, formatVersion, 1); err != nil {
		t.Fatal(err)
	}
	// The last ACL encodes last: make its operation ANY.
	bad := append([]byte(nil), body...)
	bad[len(bad)-2] = byte(kmsg.ACLOperationAny)
	if _, err := decodeBody(bad, formatVersion, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an invalid ACL: %v, want ErrCorrupt", err)
	}
	// The first ACL twice, under another id.
	acls := img.ACLs()
	twice := appendACL(appendACL(binary.AppendUvarint(nil, 2), [16]byte{1}, acls[0].Binding), [16]byte{2}, acls[0].Binding)
	noACLs := encodeState(sampleImageV4())
	dup := append(append([]byte(nil), noACLs[headerLen:len(noACLs)-trailerLen-1]...), twice...)
	if _, err := decodeBody(dup, formatVersion, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an ACL twice: %v, want ErrCorrupt", err)
	}
}
