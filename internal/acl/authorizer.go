package acl

import (
	"context"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Index holds bindings arranged for Authorize: by resource type, then by
// literal name and by prefix. The metadata image builds one per change of
// its ACLs, so a request costs a few map lookups, not a scan.
type Index struct {
	types map[kmsg.ACLResourceType]*typeIndex
	count int
}

// typeIndex is one resource type's bindings.
type typeIndex struct {
	all      []Binding
	literal  map[string][]Binding // by resource name, "*" included
	prefixed map[string][]Binding // by prefix
	// prefixLens are the distinct lengths of the prefixes, ascending: a
	// name is checked against each length's slice of it.
	prefixLens []int
}

// NewIndex indexes bindings. They are assumed valid (Binding.Validate);
// an empty or nil list gives the empty index.
func NewIndex(bindings []Binding) *Index {
	x := &Index{types: map[kmsg.ACLResourceType]*typeIndex{}, count: len(bindings)}
	for _, b := range bindings {
		t := x.types[b.ResourceType]
		if t == nil {
			t = &typeIndex{literal: map[string][]Binding{}, prefixed: map[string][]Binding{}}
			x.types[b.ResourceType] = t
		}
		t.all = append(t.all, b)
		if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			if len(t.prefixed[b.ResourceName]) == 0 {
				t.prefixLens = append(t.prefixLens, len(b.ResourceName))
			}
			t.prefixed[b.ResourceName] = append(t.prefixed[b.ResourceName], b)
		} else {
			t.literal[b.ResourceName] = append(t.literal[b.ResourceName], b)
		}
	}
	for _, t := range x.types {
		slices.Sort(t.prefixLens)
		t.prefixLens = slices.Compact(t.prefixLens)
	}
	return x
}

// Len returns the number of bindings indexed.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return x.count
}

// forResource calls fn with each binding whose pattern covers the named
// resource: LITERAL of that name or "*", PREFIXED with a prefix of it.
// fn returns false to stop.
func (x *Index) forResource(typ kmsg.ACLResourceType, name string, fn func(Binding) bool) {
	if x == nil {
		return
	}
	t := x.types[typ]
	if t == nil {
		return
	}
	lists := [][]Binding{t.literal[name]}
	if name != WildcardResource {
		lists = append(lists, t.literal[WildcardResource])
	}
	for _, n := range t.prefixLens {
		if n > len(name) {
			break
		}
		lists = append(lists, t.prefixed[name[:n]])
	}
	for _, l := range lists {
		for _, b := range l {
			if !fn(b) {
				return
			}
		}
	}
}

// Config configures an Authorizer.
type Config struct {
	// SuperUsers may do everything (super.users), whatever the ACLs say.
	SuperUsers []string
	// AllowIfNoACL lets every principal act on a resource that no ACL
	// covers (allow.everyone.if.no.acl.found); false denies it, as Kafka.
	AllowIfNoACL bool
	// Index returns the current bindings; it is called on every
	// decision, so that a change applies at once to open connections.
	Index func() *Index
	// Logger, if set, logs denials at debug level (Kafka's audit log).
	Logger *slog.Logger
}

// Authorizer decides operations against ACLs as Kafka's StandardAuthorizer.
// It implements internal/broker's Authorizer.
type Authorizer struct {
	super map[string]bool
	allow bool
	index func() *Index
	log   *slog.Logger
}

// New returns an Authorizer for cfg. A nil cfg.Index means no ACLs.
func New(cfg Config) *Authorizer {
	a := &Authorizer{super: map[string]bool{}, allow: cfg.AllowIfNoACL, index: cfg.Index, log: cfg.Logger}
	for _, p := range cfg.SuperUsers {
		a.super[p] = true
	}
	if a.index == nil {
		a.index = func() *Index { return nil }
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Authorize reports whether principal, connecting from host (an IP
// address), may perform op on the resource of type typ called name. In
// order: a super user may; a DENY that covers the request wins; then an
// ALLOW; a resource no ACL covers at all is allowed only with
// AllowIfNoACL; otherwise denied.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	if a.super[principal] {
		return true
	}
	allowed, covered := false, false
	denied := false
	a.index().forResource(typ, name, func(b Binding) bool {
		covered = true
		switch decide(b, principal, host, op) {
		case kmsg.ACLPermissionTypeDeny:
			denied = true
			return false
		case kmsg.ACLPermissionTypeAllow:
			allowed = true
		}
		return true
	})
	ok := !denied && (allowed || !covered && a.allow)
	if !ok && a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("authorization denied", "principal", principal, "host", host, "operation", op.String(),
			"resource_type", typ.String(), "resource", name, "by_acl", denied)
	}
	return ok
}

// decide is what b says about the request: ALLOW, DENY, or UNKNOWN when
// it does not apply (Kafka's StandardAuthorizerData.findResult). The
// principal matches by equality or the wildcard User:*, the host by
// equality or "*". An ALLOW of READ, WRITE, DELETE or ALTER implies
// DESCRIBE, and of ALTER_CONFIGS implies DESCRIBE_CONFIGS; a DENY implies
// nothing beyond its operation (a DENY of READ does not deny DESCRIBE).
// ALL matches every operation.
func decide(b Binding, principal, host string, op kmsg.ACLOperation) kmsg.ACLPermissionType {
	if b.Principal != principal && b.Principal != WildcardPrincipal {
		return kmsg.ACLPermissionTypeUnknown
	}
	if b.Host != WildcardHost && b.Host != host {
		return kmsg.ACLPermissionTypeUnknown
	}
	if b.Operation != kmsg.ACLOperationAll && b.Operation != op &&
		(b.Permission != kmsg.ACLPermissionTypeAllow || !implies(b.Operation, op)) {
		return kmsg.ACLPermissionTypeUnknown
	}
	return b.Permission
}

// implies reports whether allowing have also allows want.
func implies(have, want kmsg.ACLOperation) bool {
	switch want {
	case kmsg.ACLOperationDescribe:
		switch have {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return have == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// AuthorizeByResourceType reports whether principal may perform op on at
// least one resource of type typ (Kafka's
// Authorizer.authorizeByResourceType, which KIP-679 uses to let a
// producer with WRITE on any topic be idempotent). A super user, or the
// default rule for a resource no ACL covers, may; otherwise some ALLOW of
// op or ALL must name a resource that no DENY of op or ALL covers
// entirely: a literal DENY of the same name, or a PREFIXED DENY of a
// prefix of it; a DENY of the literal "*" denies all.
func (a *Authorizer) AuthorizeByResourceType(principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	// A name no ACL is likely to cover, as Kafka's "hardcode": super users
	// and the default rule answer it.
	if a.Authorize(principal, host, op, typ, "hardcode") {
		return true
	}
	x := a.index()
	if x == nil || x.types[typ] == nil {
		return false
	}
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	var allows []Binding
	for _, b := range x.types[typ].all {
		if b.Host != WildcardHost && b.Host != host || b.Principal != principal && b.Principal != WildcardPrincipal ||
			b.Operation != op && b.Operation != kmsg.ACLOperationAll {
			continue
		}
		switch {
		case b.Permission == kmsg.ACLPermissionTypeDeny && b.PatternType == kmsg.ACLResourcePatternTypeLiteral:
			if b.ResourceName == WildcardResource {
				return false
			}
			denyLiteral[b.ResourceName] = true
		case b.Permission == kmsg.ACLPermissionTypeDeny:
			denyPrefix[b.ResourceName] = true
		default:
			allows = append(allows, b)
		}
	}
	for _, b := range allows {
		if b.PatternType == kmsg.ACLResourcePatternTypeLiteral && b.ResourceName == WildcardResource {
			return true
		}
	}
	for _, b := range allows {
		if b.PatternType == kmsg.ACLResourcePatternTypeLiteral && denyLiteral[b.ResourceName] {
			continue
		}
		if !deniedByPrefix(b.ResourceName, denyPrefix) {
			return true
		}
	}
	return false
}

// deniedByPrefix reports whether a prefix of name (itself included) is
// in deny.
func deniedByPrefix(name string, deny map[string]bool) bool {
	for i := 1; i <= len(name); i++ {
		if deny[name[:i]] {
			return true
		}
	}
	return false
}
