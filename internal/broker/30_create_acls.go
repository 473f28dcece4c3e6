package broker

// CreateAcls v0–v3 (KIP-140; v1 pattern types, KIP-290). Needs ALTER on
// the cluster, else every creation is answered CLUSTER_AUTHORIZATION_FAILED;
// without an authorizer every creation is answered SECURITY_DISABLED, as
// Kafka's. Each binding is validated on its own: an invalid one (ANY,
// MATCH or unknown codes, an empty name, a CLUSTER resource not named
// kafka-cluster, a principal that is not "Type:name") is answered
// INVALID_REQUEST with the reason, and the valid ones are created in one
// metadata change. A binding that exists already, or is named twice,
// succeeds once. v0 has no pattern type: its bindings are LITERAL.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/acl"
)

func handleCreateACLs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	var errs []error
	switch {
	case !b.authorized(r, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterResource):
		errs = repeated[error](len(req.Creations), kerr.ClusterAuthorizationFailed)
	case b.cfg.Authorizer == nil:
		errs = repeated(len(req.Creations), errNoAuthorizer)
	default:
		bindings := make([]acl.Binding, len(req.Creations))
		for i, c := range req.Creations {
			bindings[i] = acl.Binding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
				Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
			if req.Version == 0 {
				bindings[i].PatternType = kmsg.ACLResourcePatternTypeLiteral
			}
		}
		errs = b.ctrl.CreateACLs(bindings)
	}
	for _, err := range errs {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, res)
	}
	return respond(resp)
}

// repeated is n copies of v: one answer for every item of a refused request.
func repeated[T any](n int, v T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}
