package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// denyCluster allows everything but op on the cluster.
type denyCluster struct{ op kmsg.ACLOperation }

func (d denyCluster) Authorize(_, _ string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, _ string) bool {
	return typ != kmsg.ACLResourceTypeCluster || op != d.op
}

// TestScramCredentialsAuthorization checks that Describe needs DESCRIBE and
// Alter needs ALTER on the cluster, as Kafka's KafkaApis and ControllerApis
// check them, and that a denied Alter changes nothing.
func TestScramCredentialsAuthorization(t *testing.T) {
	b := newConfigBroker(t, nil, nil)
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "bob", 1, 4096, []byte("salt"), make([]byte, 32)
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "amy", 1
	alter.Upsertions, alter.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up, up}, []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del}

	b.cfg.Authorizer = denyCluster{kmsg.ACLOperationAlter}
	got := wireScram(t, b, alter).(*kmsg.AlterUserSCRAMCredentialsResponse)
	if len(got.Results) != 2 || got.Results[0].User != "amy" || got.Results[1].User != "bob" {
		t.Fatalf("denied alter answered %+v, want amy and bob once each", got.Results)
	}
	for _, r := range got.Results {
		if r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("denied alter of %s: code %d", r.User, r.ErrorCode)
		}
	}
	if users := b.meta.Image().ScramUsers(); len(users) != 0 {
		t.Errorf("a denied alter stored %v", users)
	}

	describe := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	describe.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "bob"}}
	b.cfg.Authorizer = denyCluster{kmsg.ACLOperationDescribe}
	dgot := wireScram(t, b, describe).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if dgot.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(dgot.Results) != 1 ||
		dgot.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("denied describe answered %d %+v", dgot.ErrorCode, dgot.Results)
	}

	// Allowed (Describe denied, Alter not): bob is stored once, then
	// described once the Describe is allowed.
	alter.Upsertions = alter.Upsertions[:1]
	alter.Deletions = nil
	got = wireScram(t, b, alter).(*kmsg.AlterUserSCRAMCredentialsResponse)
	if len(got.Results) != 1 || got.Results[0].ErrorCode != 0 {
		t.Fatalf("allowed alter answered %+v", got.Results)
	}
	b.cfg.Authorizer = denyCluster{kmsg.ACLOperationAlter}
	dgot = wireScram(t, b, describe).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if dgot.ErrorCode != 0 || len(dgot.Results) != 1 || len(dgot.Results[0].CredentialInfos) != 1 {
		t.Errorf("allowed describe answered %d %+v", dgot.ErrorCode, dgot.Results)
	}
}

// wireScram sends req to b and decodes the answer as a client would.
func wireScram(t *testing.T, b *Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	h := apis[req.Key()].handle
	resp, err := h(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	got := req.ResponseKind()
	if err := got.ReadFrom(resp.Msg.AppendTo(nil)); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	return got
}
