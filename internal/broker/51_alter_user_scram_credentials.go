package broker

// AlterUserScramCredentials v0 (KIP-554): deletions and upsertions of SCRAM
// credentials, answered per user as Kafka's ScramControlManager answers
// them (controller/users.go): UNACCEPTABLE_CREDENTIAL for an empty name,
// iterations outside 4096..16384 or an empty salt or salted password,
// UNSUPPORTED_SASL_MECHANISM, DUPLICATE_RESOURCE for a user altered twice
// (an upsertion and a deletion included), RESOURCE_NOT_FOUND for deleting
// a credential the user lacks. A client sends a salt and the salted
// password; only the stored and server keys derived from them are kept.
// Kafka sends this request to the controller; any Eddy broker answers,
// proposing through the metadata quorum. Needs ALTER on the cluster:
// otherwise every user named is answered CLUSTER_AUTHORIZATION_FAILED, by
// name, as Kafka does.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/controller"
)

func handleAlterUserSCRAMCredentials(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !b.authorized(r, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterResource) {
		for _, user := range alteredUsers(req) {
			resp.Results = append(resp.Results, scramAlterResult(user, kerr.ClusterAuthorizationFailed))
		}
		return respond(resp)
	}
	var dels []controller.ScramDeletion
	for _, d := range req.Deletions {
		dels = append(dels, controller.ScramDeletion{User: d.Name, Mechanism: auth.Mechanism(d.Mechanism)})
	}
	var ups []controller.ScramUpsertion
	for _, u := range req.Upsertions {
		ups = append(ups, controller.ScramUpsertion{User: u.Name, Mechanism: auth.Mechanism(u.Mechanism),
			Iterations: u.Iterations, Salt: u.Salt, SaltedPassword: u.SaltedPassword})
	}
	for _, res := range b.ctrl.AlterScramCredentials(dels, ups) {
		out := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		out.User, out.ErrorCode, out.ErrorMessage = res.User, errorCode(res.Err), errorMessage(res.Err)
		resp.Results = append(resp.Results, out)
	}
	return respond(resp)
}

// alteredUsers is every user a request names, sorted, each once.
func alteredUsers(req *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	var users []string
	for _, d := range req.Deletions {
		users = append(users, d.Name)
	}
	for _, u := range req.Upsertions {
		users = append(users, u.Name)
	}
	slices.Sort(users)
	return slices.Compact(users)
}

func scramAlterResult(user string, ke *kerr.Error) kmsg.AlterUserSCRAMCredentialsResponseResult {
	out := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
	out.User, out.ErrorCode, out.ErrorMessage = user, ke.Code, kmsg.StringPtr(ke.Message)
	return out
}
