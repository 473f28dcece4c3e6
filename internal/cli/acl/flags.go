package acl

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// flags are the ACL flags of every verb. create builds ACLs from them;
// list and delete build filters, where a flag not given matches anything.
type flags struct {
	allow      []string
	deny       []string
	principals []string // filters only: either permission
	allowHosts []string
	denyHosts  []string
	operations []string
	topics     []string
	groups     []string
	txnIDs     []string
	cluster    bool
	pattern    string
}

// register adds the flags; filter says whether they filter (list, delete),
// which adds --principal, and the default pattern type.
func (f *flags) register(cmd *cobra.Command, filter bool, pattern string) {
	fl := cmd.Flags()
	// Principals, group names and transactional IDs may hold commas, so
	// those flags repeat instead of splitting.
	fl.StringArrayVar(&f.allow, "allow-principal", nil, "principal the ACL allows, User: added if no type is given (repeatable)")
	fl.StringArrayVar(&f.deny, "deny-principal", nil, "principal the ACL denies (repeatable)")
	fl.StringSliceVar(&f.allowHosts, "allow-host", nil, "host the allowed principals connect from (repeatable; default *)")
	fl.StringSliceVar(&f.denyHosts, "deny-host", nil, "host the denied principals connect from (repeatable; default *)")
	fl.StringSliceVar(&f.operations, "operation", nil, "operation: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write (repeatable)")
	fl.StringSliceVar(&f.topics, "topic", nil, "topic name or prefix (repeatable)")
	fl.StringArrayVar(&f.groups, "group", nil, "consumer group name or prefix (repeatable)")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "transactional ID or prefix (repeatable)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	if filter {
		fl.StringArrayVar(&f.principals, "principal", nil, "principal of allow or deny ACLs (repeatable)")
		fl.StringVar(&f.pattern, "resource-pattern-type", pattern, "how resource names match: literal, prefixed, match (literal, prefixed and * ACLs that apply to the name) or any")
	} else {
		fl.StringVar(&f.pattern, "resource-pattern-type", pattern, "resource names are literal or prefixed")
	}
}

// principal adds "User:" to a principal given without a type.
func principal(p string) string {
	if strings.Contains(p, ":") {
		return p
	}
	return "User:" + p
}

func principals(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = principal(p)
	}
	return out
}

// parseOperations maps --operation values to Kafka's operations; any is
// valid only in a filter.
func parseOperations(names []string, filter bool) ([]kadm.ACLOperation, error) {
	ops := make([]kadm.ACLOperation, 0, len(names))
	for _, n := range names {
		op, err := kmsg.ParseACLOperation(n)
		if err != nil || op == kadm.OpAny && !filter {
			return nil, fmt.Errorf("unknown --operation %q (want all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs or idempotent_write)", n)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// parsePattern maps --resource-pattern-type; match and any only filter.
func parsePattern(name string, filter bool) (kadm.ACLPattern, error) {
	p, err := kmsg.ParseACLResourcePatternType(name)
	switch {
	case err != nil:
	case p == kadm.ACLPatternLiteral || p == kadm.ACLPatternPrefixed:
		return p, nil
	case filter:
		return p, nil
	default:
		return 0, fmt.Errorf("--resource-pattern-type %s only filters (list, delete): ACLs are literal or prefixed", name)
	}
	if filter {
		return 0, fmt.Errorf("unknown --resource-pattern-type %q (want literal, prefixed, match or any)", name)
	}
	return 0, fmt.Errorf("unknown --resource-pattern-type %q (want literal or prefixed)", name)
}

// hasResource reports whether any resource flag was given.
func (f *flags) hasResource() bool {
	return len(f.topics)+len(f.groups)+len(f.txnIDs) > 0 || f.cluster
}

// creation builds the ACLs create makes: every principal, host, resource
// and operation combined.
func (f *flags) creation() (*kadm.ACLBuilder, error) {
	switch {
	case len(f.allow)+len(f.deny) == 0:
		return nil, errors.New("no principal: give --allow-principal or --deny-principal")
	case len(f.allowHosts) > 0 && len(f.allow) == 0:
		return nil, errors.New("--allow-host needs --allow-principal")
	case len(f.denyHosts) > 0 && len(f.deny) == 0:
		return nil, errors.New("--deny-host needs --deny-principal")
	case !f.hasResource():
		return nil, errors.New("no resource: give --topic, --group, --cluster or --transactional-id")
	case len(f.operations) == 0:
		return nil, errors.New("no operation: give --operation")
	}
	ops, err := parseOperations(f.operations, false)
	if err != nil {
		return nil, err
	}
	pattern, err := parsePattern(f.pattern, false)
	if err != nil {
		return nil, err
	}
	b := kadm.NewACLs().
		MaybeAllow(principals(f.allow)...).MaybeAllowHosts(f.allowHosts...).
		MaybeDeny(principals(f.deny)...).MaybeDenyHosts(f.denyHosts...).
		MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeClusters(f.cluster).
		MaybeTransactionalIDs(f.txnIDs...).
		Operations(ops...).ResourcePatternType(pattern)
	return b, b.ValidateCreate()
}

// filter builds the filter list and delete match with. A flag not given
// matches anything: no resource flag matches every resource, no operation
// every operation. Principal and host flags pick the permission they
// name; with none for either permission, both match.
func (f *flags) filter() (*kadm.ACLBuilder, error) {
	ops, err := parseOperations(f.operations, true)
	if err != nil {
		return nil, err
	}
	pattern, err := parsePattern(f.pattern, true)
	if err != nil {
		return nil, err
	}
	b := kadm.NewACLs().Operations(ops...).ResourcePatternType(pattern)
	if f.hasResource() {
		b.MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeClusters(f.cluster).MaybeTransactionalIDs(f.txnIDs...)
	} else {
		b.AnyResource()
	}
	allow := slices.Concat(principals(f.principals), principals(f.allow))
	deny := slices.Concat(principals(f.principals), principals(f.deny))
	allowSide := len(allow)+len(f.allowHosts) > 0
	denySide := len(deny)+len(f.denyHosts) > 0
	if !allowSide && !denySide {
		allowSide, denySide = true, true
	}
	if allowSide {
		b.Allow(allow...).AllowHosts(f.allowHosts...) // empty: any
	}
	if denySide {
		b.Deny(deny...).DenyHosts(f.denyHosts...)
	}
	return b, b.ValidateFilter()
}

// wildcard reports whether a filter names neither a resource nor a
// principal: as a delete, it would remove everyone's ACLs on everything.
func (f *flags) wildcard() bool {
	return !f.hasResource() && len(f.allow)+len(f.deny)+len(f.principals) == 0
}
