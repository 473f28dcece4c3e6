package controller

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func binding(name string, pt kmsg.ACLResourcePatternType, op kmsg.ACLOperation) acl.Binding {
	return acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: name, PatternType: pt,
		Principal: "User:alice", Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
}

func newACLController(t *testing.T) (*Controller, *meta.Store) {
	store, err := meta.Open(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n byte
	c, err := New(Config{Store: store, Node: 1, NewID: func(taken func([16]byte) bool) [16]byte {
		for {
			n++
			if id := [16]byte{15: n}; !taken(id) {
				return id
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c, store
}

func bindings(img *meta.Image) []acl.Binding {
	var out []acl.Binding
	for _, a := range img.ACLs() {
		out = append(out, a.Binding)
	}
	return out
}

func TestCreateACLs(t *testing.T) {
	c, store := newACLController(t)
	lit := kmsg.ACLResourcePatternTypeLiteral
	a, b := binding("a", lit, kmsg.ACLOperationRead), binding("b", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationWrite)
	bad := binding("", lit, kmsg.ACLOperationRead)
	errs := c.CreateACLs([]acl.Binding{a, bad, b, a})
	if errs[0] != nil || errs[2] != nil || errs[3] != nil || !errors.Is(errs[1], acl.ErrInvalid) {
		t.Fatalf("create: %v", errs)
	}
	if got := bindings(store.Image()); !reflect.DeepEqual(got, []acl.Binding{a, b}) {
		t.Fatalf("image holds %v, want %v once each", got, []acl.Binding{a, b})
	}
	// Again: nothing new, every creation answered with success.
	before := store.Image()
	if errs := c.CreateACLs([]acl.Binding{b, a}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("create again: %v", errs)
	}
	if store.Image() != before {
		t.Error("creating held bindings proposed a change")
	}
	if errs := c.CreateACLs([]acl.Binding{bad}); !errors.Is(errs[0], acl.ErrInvalid) {
		t.Fatalf("invalid alone: %v", errs)
	}
	// IDs are not reused.
	ids := map[[16]byte]bool{}
	for _, x := range store.Image().ACLs() {
		ids[x.ID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("ids %v", ids)
	}
}

func TestDeleteACLs(t *testing.T) {
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	read, write := kmsg.ACLOperationRead, kmsg.ACLOperationWrite
	all := []acl.Binding{binding("pay", lit, read), binding("pay", pre, read), binding("payments", lit, write), binding("*", lit, read), binding("other", lit, read)}
	str := func(s string) *string { return &s }
	filter := func(name *string, pt kmsg.ACLResourcePatternType) acl.Filter {
		f := acl.Any
		f.ResourceType, f.ResourceName, f.PatternType = kmsg.ACLResourceTypeTopic, name, pt
		return f
	}
	for _, tc := range []struct {
		name    string
		filters []acl.Filter
		want    [][]acl.Binding // per filter
		wantErr []bool
		left    []acl.Binding
	}{
		{"literal", []acl.Filter{filter(str("pay"), lit)}, [][]acl.Binding{{all[0]}}, []bool{false}, []acl.Binding{all[3], all[4], all[1], all[2]}},
		{"any pattern type, exact name", []acl.Filter{filter(str("pay"), kmsg.ACLResourcePatternTypeAny)}, [][]acl.Binding{{all[0], all[1]}}, []bool{false}, []acl.Binding{all[3], all[4], all[2]}},
		{"match: what applies to payments", []acl.Filter{filter(str("payments"), kmsg.ACLResourcePatternTypeMatch)},
			[][]acl.Binding{{all[3], all[1], all[2]}}, []bool{false}, []acl.Binding{all[4], all[0]}},
		{"two filters, one binding", []acl.Filter{filter(str("pay"), lit), filter(nil, lit)},
			[][]acl.Binding{{all[0]}, {all[3], all[4], all[0], all[2]}}, []bool{false, false}, []acl.Binding{all[1]}},
		{"an unknown filter fails alone", []acl.Filter{{ResourceType: kmsg.ACLResourceTypeUnknown}, filter(str("other"), lit)},
			[][]acl.Binding{nil, {all[4]}}, []bool{true, false}, []acl.Binding{all[3], all[0], all[1], all[2]}},
		{"match: only the wildcard applies to nope", []acl.Filter{filter(str("nope"), kmsg.ACLResourcePatternTypeMatch)}, [][]acl.Binding{{all[3]}}, []bool{false}, []acl.Binding{all[4], all[0], all[1], all[2]}},
		{"nothing matches", []acl.Filter{filter(str("nope"), lit)}, [][]acl.Binding{nil}, []bool{false}, []acl.Binding{all[3], all[4], all[0], all[1], all[2]}},
		{"everything", []acl.Filter{acl.Any}, [][]acl.Binding{{all[3], all[4], all[0], all[1], all[2]}}, []bool{false}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, store := newACLController(t)
			if errs := c.CreateACLs(all); fmt.Sprint(errs) != fmt.Sprint(make([]error, len(all))) {
				t.Fatal(errs)
			}
			got := c.DeleteACLs(tc.filters)
			for i, d := range got {
				if (d.Err != nil) != tc.wantErr[i] || tc.wantErr[i] && !errors.Is(d.Err, acl.ErrInvalid) {
					t.Errorf("filter %d: error %v, want error %v", i, d.Err, tc.wantErr[i])
				}
				if !reflect.DeepEqual(d.Deleted, tc.want[i]) {
					t.Errorf("filter %d deleted %v, want %v", i, d.Deleted, tc.want[i])
				}
			}
			if left := bindings(store.Image()); !reflect.DeepEqual(left, tc.left) {
				t.Errorf("left %v, want %v", left, tc.left)
			}
		})
	}
}
