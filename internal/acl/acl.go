// Package acl is Kafka's ACL model: bindings (a resource pattern and an
// access control entry), their validation, the filters DescribeAcls and
// DeleteAcls match them with, and the Authorizer that decides a request's
// operations against them, following Kafka's StandardAuthorizer rule for
// rule. It is pure: the bindings live in the metadata image
// (internal/meta), which builds an Index of them once per change.
//
// Concurrency: a Binding, Filter and Index are values never modified once
// built, safe to share; an Authorizer is safe for concurrent use.
package acl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrInvalid wraps a binding or filter Kafka refuses with
	// INVALID_REQUEST; the message says why, in Kafka's words.
	ErrInvalid = errors.New("acl: invalid")
)

// Wildcards: a literal resource named "*" is every resource of its type,
// host "*" every host, principal "User:*" every principal.
const (
	WildcardResource  = "*"
	WildcardHost      = "*"
	WildcardPrincipal = "User:*"
	// ClusterName is the name of the one CLUSTER resource.
	ClusterName = "kafka-cluster"
)

// Binding is one ACL (Kafka's AclBinding): who (principal "Type:name"
// connecting from host) may or may not (permission) perform an operation
// on the resources a pattern names. Bindings are comparable: equal
// bindings are the same ACL.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType // LITERAL or PREFIXED
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

func (b Binding) String() string {
	return fmt.Sprintf("(%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate reports why Kafka would refuse to create b: a CLUSTER resource
// not named kafka-cluster, an empty resource name, a resource type,
// pattern type, operation or permission that is unknown or a filter's
// (ANY, MATCH), or a principal that is not "Type:name". The checks, their
// order and messages are AclApis's and AclControlManager.validateNewAcl's; Kafka
// does not check the principal when creating but cannot authorize against
// one without a colon, so Eddy refuses it up front.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName:
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterName)
	case b.ResourceName == "":
		return invalid("Invalid empty resource name")
	case !concreteResourceType(b.ResourceType):
		return invalid("Invalid resourceType %s", b.ResourceType)
	case b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed:
		return invalid("Invalid patternType %s", b.PatternType)
	case b.Operation < kmsg.ACLOperationAll || b.Operation > kmsg.ACLOperationDescribeTokens:
		return invalid("Invalid operation %s", b.Operation)
	case b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny:
		return invalid("Invalid permissionType %s", b.Permission)
	}
	if typ, _, ok := strings.Cut(b.Principal, ":"); !ok || typ == "" {
		return invalid("Invalid principal %q: expected a string in format principalType:principalName", b.Principal)
	}
	return nil
}

// concreteResourceType reports whether t names resources (TOPIC through
// USER), not a filter's ANY or an unknown code.
func concreteResourceType(t kmsg.ACLResourceType) bool {
	return t >= kmsg.ACLResourceTypeTopic && t <= kmsg.ACLResourceTypeUser
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Filter selects bindings (Kafka's AclBindingFilter): a nil string
// matches any value, ANY matches any enum value. PatternType MATCH with a
// name selects the bindings that would apply to the resource of that
// name: LITERAL ones of that name or "*", and PREFIXED ones whose prefix
// it starts with.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Any is the filter that matches every binding.
var Any = Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
	Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}

// Validate reports a filter with an unknown element (Kafka's
// AclBindingFilter.isUnknown, answered INVALID_REQUEST): a code outside
// the enums counts as UNKNOWN, as Java's fromCode maps it.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser,
		f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return invalid("Unknown patternFilter.")
	case f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens,
		f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow:
		return invalid("Unknown entryFilter.")
	}
	return nil
}

// Matches reports whether f selects b, exactly as Kafka's
// AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool { return f.matchesPattern(b) && f.matchesEntry(b) }

// matchesPattern is ResourcePatternFilter.matches.
func (f Filter) matchesPattern(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	anyPattern := f.PatternType == kmsg.ACLResourcePatternTypeAny
	if !anyPattern && f.PatternType != kmsg.ACLResourcePatternTypeMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	name := *f.ResourceName
	if anyPattern || f.PatternType == b.PatternType {
		return name == b.ResourceName
	}
	// MATCH: the bindings that apply to the resource called name.
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return name == b.ResourceName || b.ResourceName == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

// matchesEntry is AccessControlEntryFilter.matches.
func (f Filter) matchesEntry(b Binding) bool {
	switch {
	case f.Principal != nil && *f.Principal != b.Principal,
		f.Host != nil && *f.Host != b.Host,
		f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation:
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission
}
