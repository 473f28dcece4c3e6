package broker

// DeleteAcls v0–v3 (KIP-140; v1 pattern types, KIP-290). Needs ALTER on
// the cluster, else every filter is answered CLUSTER_AUTHORIZATION_FAILED;
// without an authorizer every filter is answered SECURITY_DISABLED, as
// Kafka's. Each filter selects bindings as Kafka's AclBindingFilter
// (acl.Filter: ANY, MATCH, nil strings); one with an unknown element is
// answered INVALID_REQUEST. The bindings all the other filters select are
// removed in one metadata change, and each filter is answered with the
// bindings it selected (a binding two filters select is listed by both).
// v0 has no pattern type: its filters are LITERAL (Kafka turns v0's ANY
// into LITERAL too).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
	"github.com/eddy-streaming/eddy/internal/controller"
)

func handleDeleteACLs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	var results []controller.ACLDeletion
	switch {
	case !b.authorized(r, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterResource):
		results = repeated(len(req.Filters), controller.ACLDeletion{Err: kerr.ClusterAuthorizationFailed})
	case b.cfg.Authorizer == nil:
		results = repeated(len(req.Filters), controller.ACLDeletion{Err: errNoAuthorizer})
	default:
		filters := make([]acl.Filter, len(req.Filters))
		for i, f := range req.Filters {
			filters[i] = acl.Filter{ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: f.ResourcePatternType,
				Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType}
			if req.Version == 0 {
				filters[i].PatternType = kmsg.ACLResourcePatternTypeLiteral
			}
		}
		results = b.ctrl.DeleteACLs(filters)
	}
	for _, d := range results {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = errorCode(d.Err), errorMessage(d.Err)
		for _, x := range d.Deleted {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = x.ResourceType, x.ResourceName, x.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = x.Principal, x.Host, x.Operation, x.Permission
			res.MatchingACLs = append(res.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, res)
	}
	return respond(resp)
}
