package acl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// request is one Authorize call, by alice from 10.0.0.1 unless set.
type request struct {
	principal, host string
	op              kmsg.ACLOperation
	typ             kmsg.ACLResourceType
	name            string
}

func (r request) with() request {
	if r.principal == "" {
		r.principal = "User:alice"
	}
	if r.host == "" {
		r.host = "10.0.0.1"
	}
	return r
}

func authorizer(bindings []Binding, allowIfNoACL bool, super ...string) *Authorizer {
	x := NewIndex(bindings)
	return New(Config{SuperUsers: super, AllowIfNoACL: allowIfNoACL, Index: func() *Index { return x }})
}

// TestAuthorize checks each rule of StandardAuthorizerData.findAclRule
// and findResult, following StandardAuthorizerTest.
func TestAuthorize(t *testing.T) {
	const (
		read, write, describe = kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe
		alter, del, all       = kmsg.ACLOperationAlter, kmsg.ACLOperationDelete, kmsg.ACLOperationAll
		create                = kmsg.ACLOperationCreate
		describeConfigs       = kmsg.ACLOperationDescribeConfigs
		alterConfigs          = kmsg.ACLOperationAlterConfigs
	)
	bob := principal("User:bob")
	for _, tc := range []struct {
		name     string
		bindings []Binding
		allowAll bool     // allow.everyone.if.no.acl.found
		super    []string // super.users
		req      request
		want     bool
	}{
		{"no acls: denied by default", nil, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"no acls: allow.everyone.if.no.acl.found", nil, true, nil, request{op: read, typ: topic, name: "t"}, true},
		{"super user without acls", nil, false, []string{"User:alice"}, request{op: alter, typ: cluster, name: ClusterName}, true},
		{"super user beats deny", []Binding{b(topic, "t", literal, all, deny)}, false, []string{"User:bob", "User:alice"}, request{op: read, typ: topic, name: "t"}, true},
		{"super user is the exact principal", nil, false, []string{"User:Alice"}, request{op: read, typ: topic, name: "t"}, false},
		{"literal allow", []Binding{b(topic, "t", literal, read, allow)}, false, nil, request{op: read, typ: topic, name: "t"}, true},
		{"literal allow of another topic", []Binding{b(topic, "u", literal, read, allow)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"another topic's acl leaves this one uncovered", []Binding{b(topic, "u", literal, read, deny)}, true, nil, request{op: read, typ: topic, name: "t"}, true},
		{"acl of another type leaves the resource uncovered", []Binding{b(group, "t", literal, read, deny)}, true, nil, request{op: read, typ: topic, name: "t"}, true},
		{"literal is not a prefix", []Binding{b(topic, "t", literal, read, allow)}, false, nil, request{op: read, typ: topic, name: "tt"}, false},
		{"wildcard resource", []Binding{b(topic, "*", literal, read, allow)}, false, nil, request{op: read, typ: topic, name: "anything"}, true},
		{"prefixed", []Binding{b(topic, "pay", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "payments"}, true},
		{"prefixed equal to the name", []Binding{b(topic, "payments", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "payments"}, true},
		{"prefixed longer than the name", []Binding{b(topic, "payments-eu", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "payments"}, false},
		{"prefixed '*' is a prefix, not a wildcard", []Binding{b(topic, "*", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"prefixed '*' matches names starting with *", []Binding{b(topic, "*", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "*x"}, true},
		{"prefix is case sensitive", []Binding{b(topic, "Pay", prefixed, read, allow)}, false, nil, request{op: read, typ: topic, name: "payments"}, false},
		{"covered but not allowed: denied even with allow.everyone", []Binding{b(topic, "t", literal, read, allow, bob)}, true, nil, request{op: read, typ: topic, name: "t"}, false},
		{"covered by a prefix: denied even with allow.everyone", []Binding{b(topic, "p", prefixed, write, allow)}, true, nil, request{op: read, typ: topic, name: "pt"}, false},
		{"covered by the wildcard: denied even with allow.everyone", []Binding{b(topic, "*", literal, write, allow)}, true, nil, request{op: read, typ: topic, name: "pt"}, false},
		{"deny wins over allow", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, read, deny)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"prefixed deny wins over literal allow", []Binding{b(topic, "t", literal, read, allow), b(topic, "", prefixed, read, deny)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"wildcard deny wins over literal allow", []Binding{b(topic, "t", literal, all, allow), b(topic, "*", literal, read, deny)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"deny of another operation", []Binding{b(topic, "t", literal, all, allow), b(topic, "t", literal, write, deny)}, false, nil, request{op: read, typ: topic, name: "t"}, true},
		{"deny of another principal", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, read, deny, bob)}, false, nil, request{op: read, typ: topic, name: "t"}, true},
		{"deny from another host", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, read, deny, host("10.0.0.2"))}, false, nil, request{op: read, typ: topic, name: "t"}, true},
		{"deny from this host", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, read, deny, host("10.0.0.1"))}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"allow from another host", []Binding{b(topic, "t", literal, read, allow, host("10.0.0.2"))}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"wildcard principal allow", []Binding{b(topic, "t", literal, read, allow, principal(WildcardPrincipal))}, false, nil, request{principal: "User:carol", op: read, typ: topic, name: "t"}, true},
		{"wildcard principal covers other principal types", []Binding{b(topic, "t", literal, read, allow, principal(WildcardPrincipal))}, false, nil, request{principal: "Group:ops", op: read, typ: topic, name: "t"}, true},
		{"wildcard principal deny", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, read, deny, principal(WildcardPrincipal))}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"another type's wildcard is not one", []Binding{b(topic, "t", literal, read, allow, principal("Group:*"))}, false, nil, request{principal: "Group:ops", op: read, typ: topic, name: "t"}, false},
		{"principal type matters", []Binding{b(topic, "t", literal, read, allow, principal("Group:alice"))}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"ALL allows any operation", []Binding{b(cluster, ClusterName, literal, all, allow)}, false, nil, request{op: kmsg.ACLOperationIdempotentWrite, typ: cluster, name: ClusterName}, true},
		{"ALL denies any operation", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, all, deny)}, false, nil, request{op: describe, typ: topic, name: "t"}, false},
		{"allow of another operation", []Binding{b(topic, "t", literal, write, allow)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"READ implies DESCRIBE", []Binding{b(topic, "t", literal, read, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, true},
		{"WRITE implies DESCRIBE", []Binding{b(topic, "t", literal, write, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, true},
		{"DELETE implies DESCRIBE", []Binding{b(topic, "t", literal, del, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, true},
		{"ALTER implies DESCRIBE", []Binding{b(cluster, ClusterName, literal, alter, allow)}, false, nil, request{op: describe, typ: cluster, name: ClusterName}, true},
		{"CREATE does not imply DESCRIBE", []Binding{b(topic, "t", literal, create, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, false},
		{"ALTER_CONFIGS does not imply DESCRIBE", []Binding{b(topic, "t", literal, alterConfigs, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", []Binding{b(topic, "t", literal, alterConfigs, allow)}, false, nil, request{op: describeConfigs, typ: topic, name: "t"}, true},
		{"ALTER does not imply DESCRIBE_CONFIGS", []Binding{b(topic, "t", literal, alter, allow)}, false, nil, request{op: describeConfigs, typ: topic, name: "t"}, false},
		{"DESCRIBE does not imply READ", []Binding{b(topic, "t", literal, describe, allow)}, false, nil, request{op: read, typ: topic, name: "t"}, false},
		{"DENY READ does not deny DESCRIBE", []Binding{b(topic, "t", literal, read, deny), b(topic, "t", literal, write, allow)}, false, nil, request{op: describe, typ: topic, name: "t"}, true},
		{"DENY ALTER_CONFIGS does not deny DESCRIBE_CONFIGS", []Binding{b(topic, "t", literal, alterConfigs, deny), b(topic, "t", literal, describeConfigs, allow)}, false, nil, request{op: describeConfigs, typ: topic, name: "t"}, true},
		{"DENY DESCRIBE denies DESCRIBE despite an ALLOW READ", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, describe, deny)}, false, nil, request{op: describe, typ: topic, name: "t"}, false},
		{"DENY DESCRIBE leaves READ", []Binding{b(topic, "t", literal, read, allow), b(topic, "t", literal, describe, deny)}, false, nil, request{op: read, typ: topic, name: "t"}, true},
		{"the resource named * itself", []Binding{b(topic, "*", literal, read, allow)}, false, nil, request{op: read, typ: topic, name: "*"}, true},
		{"several prefixes, the longest denies", []Binding{b(topic, "a", prefixed, read, allow), b(topic, "ab", prefixed, read, allow), b(topic, "abc", prefixed, read, deny)}, false, nil, request{op: read, typ: topic, name: "abcd"}, false},
		{"several prefixes, a shorter allows", []Binding{b(topic, "a", prefixed, read, allow), b(topic, "abx", prefixed, read, deny)}, false, nil, request{op: read, typ: topic, name: "abcd"}, true},
		{"empty host never matches", []Binding{b(topic, "t", literal, read, allow, host(""))}, false, nil, request{op: read, typ: topic, name: "t"}, false},
	} {
		a := authorizer(tc.bindings, tc.allowAll, tc.super...)
		r := tc.req.with()
		if got := a.Authorize(r.principal, r.host, r.op, r.typ, r.name); got != tc.want {
			t.Errorf("%s: %s %s on %s %q from %s: %v, want %v", tc.name, r.principal, r.op, r.typ, r.name, r.host, got, tc.want)
		}
	}
}

// TestAuthorizeByResourceType follows Kafka's
// AuthorizerTest.testAuthorizeByResourceType* cases.
func TestAuthorizeByResourceType(t *testing.T) {
	write, all := kmsg.ACLOperationWrite, kmsg.ACLOperationAll
	for _, tc := range []struct {
		name     string
		bindings []Binding
		allowAll bool
		super    []string
		want     bool
	}{
		{"no acls", nil, false, nil, false},
		{"no acls, allow.everyone", nil, true, nil, true},
		{"super user", []Binding{b(topic, "*", literal, all, deny)}, false, []string{"User:alice"}, true},
		{"literal allow", []Binding{b(topic, "t", literal, write, allow)}, false, nil, true},
		{"ALL allow", []Binding{b(topic, "t", literal, all, allow)}, false, nil, true},
		{"prefixed allow", []Binding{b(topic, "t", prefixed, write, allow)}, false, nil, true},
		{"allow of another operation", []Binding{b(topic, "t", literal, kmsg.ACLOperationRead, allow)}, false, nil, false},
		{"allow for another principal", []Binding{b(topic, "t", literal, write, allow, principal("User:bob"))}, false, nil, false},
		{"allow for the wildcard principal", []Binding{b(topic, "t", literal, write, allow, principal(WildcardPrincipal))}, false, nil, true},
		{"allow from another host", []Binding{b(topic, "t", literal, write, allow, host("10.9.9.9"))}, false, nil, false},
		{"allow of another type", []Binding{b(group, "t", literal, write, allow)}, false, nil, false},
		{"literal allow, same literal deny", []Binding{b(topic, "t", literal, write, allow), b(topic, "t", literal, write, deny)}, false, nil, false},
		{"literal allow, other literal deny", []Binding{b(topic, "t", literal, write, allow), b(topic, "u", literal, write, deny)}, false, nil, true},
		{"literal allow, dominating prefix deny", []Binding{b(topic, "topic1", literal, write, allow), b(topic, "top", prefixed, write, deny)}, false, nil, false},
		{"prefix allow, dominating prefix deny", []Binding{b(topic, "topic", prefixed, write, allow), b(topic, "top", prefixed, write, deny)}, false, nil, false},
		{"prefix allow, longer prefix deny", []Binding{b(topic, "top", prefixed, write, allow), b(topic, "topic", prefixed, write, deny)}, false, nil, true},
		{"prefix allow, literal deny of the same name", []Binding{b(topic, "t", prefixed, write, allow), b(topic, "t", literal, write, deny)}, false, nil, true},
		{"wildcard allow", []Binding{b(topic, "*", literal, write, allow), b(topic, "t", literal, write, deny)}, false, nil, true},
		{"wildcard deny", []Binding{b(topic, "*", literal, write, deny), b(topic, "t", literal, write, allow)}, false, nil, false},
		{"wildcard deny beats wildcard allow", []Binding{b(topic, "*", literal, write, allow), b(topic, "*", literal, all, deny)}, false, nil, false},
		{"one of two allows free", []Binding{b(topic, "a", literal, write, allow), b(topic, "b", literal, write, allow), b(topic, "a", literal, write, deny)}, false, nil, true},
	} {
		a := authorizer(tc.bindings, tc.allowAll, tc.super...)
		if got := a.AuthorizeByResourceType("User:alice", "10.0.0.1", write, topic); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// scan is Authorize written as plainly as possible, without the index:
// every binding a MATCH filter selects for the resource, then the rules.
func scan(bindings []Binding, allowIfNoACL bool, r request) bool {
	f := Filter{r.typ, &r.name, kmsg.ACLResourcePatternTypeMatch, nil, nil, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny}
	covered, allowed := false, false
	for _, x := range bindings {
		if !f.Matches(x) {
			continue
		}
		covered = true
		switch decide(x, r.principal, r.host, r.op) {
		case deny:
			return false
		case allow:
			allowed = true
		}
	}
	return allowed || !covered && allowIfNoACL
}

// TestIndexAgreesWithScan checks the index against a scan of every
// binding on random bindings and requests over a small alphabet, so that
// prefixes, wildcards and collisions are frequent.
func TestIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "ab", "abc", "b", "ba", "*", "*a", ""}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	ops := []kmsg.ACLOperation{kmsg.ACLOperationAll, kmsg.ACLOperationRead, kmsg.ACLOperationWrite,
		kmsg.ACLOperationDescribe, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationDescribeConfigs}
	for round := range 300 {
		var bindings []Binding
		for range rng.IntN(12) {
			name := pick(names[:7])
			pt := literal
			if rng.IntN(2) == 0 {
				pt = prefixed
			}
			perm := allow
			if rng.IntN(3) == 0 {
				perm = deny
			}
			bindings = append(bindings, Binding{ResourceType: []kmsg.ACLResourceType{topic, group}[rng.IntN(2)], ResourceName: name, PatternType: pt,
				Principal: pick([]string{"User:alice", "User:bob", WildcardPrincipal}), Host: pick([]string{"*", "h1", "h2"}),
				Operation: ops[rng.IntN(len(ops))], Permission: perm})
		}
		allowAll := rng.IntN(2) == 0
		a := authorizer(bindings, allowAll)
		for range 50 {
			r := request{principal: pick([]string{"User:alice", "User:bob", "User:carol"}), host: pick([]string{"h1", "h2"}),
				op: ops[1+rng.IntN(len(ops)-1)], typ: topic, name: pick(names[:6]) + pick([]string{"", "a", "c"})}
			if got, want := a.Authorize(r.principal, r.host, r.op, r.typ, r.name), scan(bindings, allowAll, r); got != want {
				t.Fatalf("round %d: %+v with %v (allow.everyone %v): index says %v, scan %v", round, r, fmt.Sprint(bindings), allowAll, got, want)
			}
		}
	}
}

// BenchmarkAuthorize measures one decision among 10,000 ACLs.
func BenchmarkAuthorize(b *testing.B) {
	var bindings []Binding
	for i := range 10000 {
		pt := literal
		if i%10 == 0 {
			pt = prefixed
		}
		bindings = append(bindings, Binding{ResourceType: topic, ResourceName: fmt.Sprintf("topic-%d", i), PatternType: pt,
			Principal: fmt.Sprintf("User:u%d", i%100), Host: "*", Operation: kmsg.ACLOperationRead, Permission: allow})
	}
	a := authorizer(bindings, false)
	b.ResetTimer()
	for i := range b.N {
		a.Authorize("User:u7", "10.0.0.1", kmsg.ACLOperationRead, topic, fmt.Sprintf("topic-%d", i%10000))
	}
}
