package broker

// DescribeUserScramCredentials v0 (KIP-554): each user's SCRAM mechanisms
// and iteration counts, never salts or keys. No users listed (null or
// empty) describes every user that has a credential, by name. A named
// user without credentials is RESOURCE_NOT_FOUND, one named twice
// DUPLICATE_RESOURCE (answered once), as Kafka's ScramImage.describe
// answers; named users are answered in request order. Needs DESCRIBE on
// the cluster: otherwise the top-level error and each named user's is
// CLUSTER_AUTHORIZATION_FAILED (Kafka leaves those users' names empty;
// Eddy fills them in).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleDescribeUserSCRAMCredentials(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, ClusterResource) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, u := range req.Users {
			resp.Results = append(resp.Results, scramDescribeError(u.Name, kerr.ClusterAuthorizationFailed, ""))
		}
		return respond(resp)
	}
	img := b.meta.Image()
	if len(req.Users) == 0 {
		for _, user := range img.ScramUsers() {
			resp.Results = append(resp.Results, describeScramUser(img, user))
		}
		return respond(resp)
	}
	named := map[string]int{} // user → times named
	var order []string
	for _, u := range req.Users {
		if named[u.Name]++; named[u.Name] == 1 {
			order = append(order, u.Name)
		}
	}
	for _, user := range order {
		if named[user] > 1 {
			resp.Results = append(resp.Results, scramDescribeError(user, kerr.DuplicateResource,
				"Cannot describe SCRAM credentials for the same user twice in a single request: "+user))
			continue
		}
		resp.Results = append(resp.Results, describeScramUser(img, user))
	}
	return respond(resp)
}

func describeScramUser(img *meta.Image, user string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	creds := img.ScramCredentials(user)
	if len(creds) == 0 {
		return scramDescribeError(user, kerr.ResourceNotFound, "Attempt to describe a user credential that does not exist: "+user)
	}
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User = user
	for _, c := range creds {
		info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		info.Mechanism, info.Iterations = int8(c.Mechanism), c.Iterations
		res.CredentialInfos = append(res.CredentialInfos, info)
	}
	return res
}

func scramDescribeError(user string, ke *kerr.Error, msg string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User, res.ErrorCode = user, ke.Code
	if msg == "" {
		msg = fmt.Sprint(ke.Message)
	}
	res.ErrorMessage = &msg
	return res
}
