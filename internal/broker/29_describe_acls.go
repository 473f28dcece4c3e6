package broker

// DescribeAcls v0–v3 (KIP-140; v1 pattern types, KIP-290). Needs DESCRIBE
// on the cluster. Without an authorizer (authorizer.class.name unset) the
// answer is SECURITY_DISABLED, as Kafka's. The filter selects bindings as
// Kafka's AclBindingFilter (acl.Filter); one with an unknown element is
// answered INVALID_REQUEST. v0 has no pattern type: its filter is LITERAL
// (Kafka turns v0's ANY into LITERAL too). Bindings are answered grouped
// by resource pattern, in the metadata image's order.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
)

// errNoAuthorizer answers the ACL APIs on a broker without an authorizer.
var errNoAuthorizer = fmt.Errorf("%w: no authorizer is configured (authorizer.class.name)", kerr.SecurityDisabled)

func handleDescribeACLs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := acl.Filter{ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	if req.Version == 0 {
		f.PatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	err := f.Validate()
	switch {
	case !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, ClusterResource):
		err = kerr.ClusterAuthorizationFailed
	case b.cfg.Authorizer == nil:
		err = errNoAuthorizer
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return respond(resp)
	}
	index := map[aclPattern]int{} // pattern → its entry in resp.Resources
	for _, a := range b.meta.Image().ACLs() {
		if !f.Matches(a.Binding) {
			continue
		}
		p := aclPattern{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[p]
		if !ok {
			i = len(resp.Resources)
			index[p] = i
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = p.typ, p.name, p.pattern
			resp.Resources = append(resp.Resources, res)
		}
		d := kmsg.NewDescribeACLsResponseResourceACL()
		d.Principal, d.Host, d.Operation, d.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, d)
	}
	return respond(resp)
}

// aclPattern is a binding's resource pattern, which DescribeAcls groups by.
type aclPattern struct {
	typ     kmsg.ACLResourceType
	name    string
	pattern kmsg.ACLResourcePatternType
}
