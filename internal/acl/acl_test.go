package acl

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic    = kmsg.ACLResourceTypeTopic
	group    = kmsg.ACLResourceTypeGroup
	cluster  = kmsg.ACLResourceTypeCluster
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny
)

// b makes a binding for alice from any host unless changed by opts.
func b(typ kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, opts ...func(*Binding)) Binding {
	x := Binding{ResourceType: typ, ResourceName: name, PatternType: pt, Principal: "User:alice", Host: "*", Operation: op, Permission: perm}
	for _, o := range opts {
		o(&x)
	}
	return x
}

func principal(p string) func(*Binding) { return func(x *Binding) { x.Principal = p } }
func host(h string) func(*Binding)      { return func(x *Binding) { x.Host = h } }

func TestValidate(t *testing.T) {
	read := kmsg.ACLOperationRead
	for _, tc := range []struct {
		b    Binding
		want string // "" valid, else a part of the message
	}{
		{b(topic, "t", literal, read, allow), ""},
		{b(topic, "t", prefixed, read, deny), ""},
		{b(topic, "*", literal, kmsg.ACLOperationAll, allow), ""},
		{b(kmsg.ACLResourceTypeTransactionalId, "tx", literal, kmsg.ACLOperationWrite, allow), ""},
		{b(kmsg.ACLResourceTypeDelegationToken, "d", literal, kmsg.ACLOperationDescribe, allow), ""},
		{b(kmsg.ACLResourceTypeUser, "u", literal, kmsg.ACLOperationCreateTokens, allow), ""},
		{b(cluster, ClusterName, literal, kmsg.ACLOperationClusterAction, allow), ""},
		{b(topic, "t", literal, read, allow, principal("Group:x")), ""},
		{b(topic, "t", literal, read, allow, principal("User:")), ""},
		{b(kmsg.ACLResourceTypeUnknown, "t", literal, read, allow), "Invalid resourceType UNKNOWN"},
		{b(kmsg.ACLResourceTypeAny, "t", literal, read, allow), "Invalid resourceType ANY"},
		{b(kmsg.ACLResourceType(8), "t", literal, read, allow), "Invalid resourceType"},
		{b(kmsg.ACLResourceType(-1), "t", literal, read, allow), "Invalid resourceType"},
		{b(topic, "t", kmsg.ACLResourcePatternTypeAny, read, allow), "Invalid patternType ANY"},
		{b(topic, "t", kmsg.ACLResourcePatternTypeMatch, read, allow), "Invalid patternType MATCH"},
		{b(topic, "t", kmsg.ACLResourcePatternTypeUnknown, read, allow), "Invalid patternType UNKNOWN"},
		{b(topic, "t", kmsg.ACLResourcePatternType(5), read, allow), "Invalid patternType"},
		{b(topic, "t", literal, kmsg.ACLOperationAny, allow), "Invalid operation ANY"},
		{b(topic, "t", literal, kmsg.ACLOperationUnknown, allow), "Invalid operation UNKNOWN"},
		{b(topic, "t", literal, kmsg.ACLOperation(15), allow), "Invalid operation"},
		{b(topic, "t", literal, read, kmsg.ACLPermissionTypeAny), "Invalid permissionType ANY"},
		{b(topic, "t", literal, read, kmsg.ACLPermissionTypeUnknown), "Invalid permissionType UNKNOWN"},
		{b(topic, "", literal, read, allow), "Invalid empty resource name"},
		{b(cluster, "other", literal, read, allow), "The only valid name for the CLUSTER resource is kafka-cluster"},
		{b(cluster, ClusterName, prefixed, read, allow), ""},
		{b(topic, "t", literal, read, allow, principal("alice")), "Invalid principal"},
		{b(topic, "t", literal, read, allow, principal("")), "Invalid principal"},
		{b(topic, "t", literal, read, allow, principal(":alice")), "Invalid principal"},
	} {
		err := tc.b.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want valid", tc.b, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want ErrInvalid with %q", tc.b, err, tc.want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Any, ""},
		{Filter{topic, nil, literal, nil, nil, kmsg.ACLOperationRead, allow}, ""},
		{Filter{topic, nil, kmsg.ACLResourcePatternTypeMatch, nil, nil, kmsg.ACLOperationAll, deny}, ""},
		{Filter{kmsg.ACLResourceTypeUnknown, nil, literal, nil, nil, kmsg.ACLOperationAny, allow}, "Unknown patternFilter"},
		{Filter{kmsg.ACLResourceType(9), nil, literal, nil, nil, kmsg.ACLOperationAny, allow}, "Unknown patternFilter"},
		{Filter{topic, nil, kmsg.ACLResourcePatternTypeUnknown, nil, nil, kmsg.ACLOperationAny, allow}, "Unknown patternFilter"},
		{Filter{topic, nil, literal, nil, nil, kmsg.ACLOperationUnknown, allow}, "Unknown entryFilter"},
		{Filter{topic, nil, literal, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeUnknown}, "Unknown entryFilter"},
		{Filter{topic, nil, literal, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionType(4)}, "Unknown entryFilter"},
	} {
		err := tc.f.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

func str(s string) *string { return &s }

// TestFilterMatches follows Kafka's ResourcePatternFilterTest and
// AclBindingFilterTest.
func TestFilterMatches(t *testing.T) {
	read, write := kmsg.ACLOperationRead, kmsg.ACLOperationWrite
	anyPT, match := kmsg.ACLResourcePatternTypeAny, kmsg.ACLResourcePatternTypeMatch
	pattern := func(typ kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType) Filter {
		return Filter{typ, name, pt, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}
	}
	for _, tc := range []struct {
		f    Filter
		b    Binding
		want bool
	}{
		{Any, b(topic, "t", literal, read, allow), true},
		{Any, b(group, "g", prefixed, write, deny), true},
		// Resource type.
		{pattern(group, nil, anyPT), b(topic, "t", literal, read, allow), false},
		{pattern(topic, nil, anyPT), b(topic, "t", literal, read, allow), true},
		// Pattern type LITERAL / PREFIXED: exact type and name.
		{pattern(topic, str("t"), literal), b(topic, "t", literal, read, allow), true},
		{pattern(topic, str("t"), literal), b(topic, "t", prefixed, read, allow), false},
		{pattern(topic, str("t"), prefixed), b(topic, "t", prefixed, read, allow), true},
		{pattern(topic, str("tt"), prefixed), b(topic, "t", prefixed, read, allow), false},
		{pattern(topic, str("Name"), literal), b(topic, "name", literal, read, allow), false},
		{pattern(topic, nil, prefixed), b(topic, "t", literal, read, allow), false},
		// A literal filter does not expand "*": it is a name like any other.
		{pattern(topic, str("t"), literal), b(topic, "*", literal, read, allow), false},
		{pattern(topic, str("*"), literal), b(topic, "*", literal, read, allow), true},
		{pattern(topic, str("*"), literal), b(topic, "t", literal, read, allow), false},
		// ANY: any pattern type, the exact name.
		{pattern(topic, str("t"), anyPT), b(topic, "t", literal, read, allow), true},
		{pattern(topic, str("t"), anyPT), b(topic, "t", prefixed, read, allow), true},
		{pattern(topic, str("t"), anyPT), b(topic, "*", literal, read, allow), false},
		{pattern(topic, str("tx"), anyPT), b(topic, "t", prefixed, read, allow), false},
		// MATCH: what applies to the resource named.
		{pattern(topic, str("payments"), match), b(topic, "payments", literal, read, allow), true},
		{pattern(topic, str("payments"), match), b(topic, "*", literal, read, allow), true},
		{pattern(topic, str("payments"), match), b(topic, "pay", prefixed, read, allow), true},
		{pattern(topic, str("payments"), match), b(topic, "payments", prefixed, read, allow), true},
		{pattern(topic, str("payments"), match), b(topic, "payments-eu", prefixed, read, allow), false},
		{pattern(topic, str("payments"), match), b(topic, "pay", literal, read, allow), false},
		{pattern(topic, str("payments"), match), b(topic, "*", prefixed, read, allow), false},
		{pattern(topic, str("*"), match), b(topic, "*", literal, read, allow), true},
		{pattern(topic, str("*"), match), b(topic, "t", literal, read, allow), false},
		{pattern(topic, nil, match), b(topic, "t", prefixed, read, allow), true},
		{pattern(group, str("payments"), match), b(topic, "payments", literal, read, allow), false},
		// Entry: principal, host, operation, permission; nil and ANY match all.
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, str("User:alice"), nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), true},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, str("User:bob"), nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), false},
		// The filter's "User:*" is the literal principal User:*, not a wildcard.
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, str("User:*"), nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), false},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, str("10.0.0.1"), kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow, host("10.0.0.1")), true},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, str("10.0.0.1"), kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), false},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, nil, read, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), true},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, nil, write, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), false},
		// A filter's ALL is the operation ALL, not every operation.
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, nil, kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAny}, b(topic, "t", literal, read, allow), false},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, nil, kmsg.ACLOperationAny, deny}, b(topic, "t", literal, read, allow), false},
		{Filter{kmsg.ACLResourceTypeAny, nil, anyPT, nil, nil, kmsg.ACLOperationAny, allow}, b(topic, "t", literal, read, allow), true},
	} {
		if got := tc.f.Matches(tc.b); got != tc.want {
			t.Errorf("filter %+v on %v: %v, want %v", tc.f, tc.b, got, tc.want)
		}
	}
}
