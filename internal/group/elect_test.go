package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNotElected: a partition this node was not elected for answers
// NOT_COORDINATOR, and ListGroups leaves it out.
func TestNotElected(t *testing.T) {
	e := openUnelected(t, t.TempDir())
	defer e.close()
	p := PartitionFor("g", testPartitions)
	if err := e.m.Elect((p+1)%testPartitions, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.m.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := e.do(joinReq("g", "")).(*kmsg.JoinGroupResponse).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("join: %v; want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	if code := e.describe("g")[0].ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("describe: %v; want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 4
	if lr := e.do(l).(*kmsg.ListGroupsResponse); lr.ErrorCode != 0 || len(lr.Groups) != 0 {
		t.Fatalf("list: %v %+v; want no error, no groups", kerr.ErrorForCode(lr.ErrorCode), lr.Groups)
	}
	if err := e.m.Elect(testPartitions, 0); err == nil {
		t.Fatal("electing a partition past NumPartitions succeeded")
	}
}

// TestResignAndReelect: resigning answers parked calls NOT_COORDINATOR
// and drops the groups' state; electing again, at a newer epoch, reloads
// what the log holds.
func TestResignAndReelect(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close()
	p := PartitionFor("g", testPartitions)
	if cr := e.do(commitReq("g", "", -1, 42)).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	parked := e.parkJoin("j")
	pj := PartitionFor("j", testPartitions)

	e.m.Resign(pj)
	select {
	case resp := <-parked:
		if code := resp.(*kmsg.JoinGroupResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Fatalf("parked join answered %v; want NOT_COORDINATOR", kerr.ErrorForCode(code))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parked join not answered on Resign")
	}
	e.m.Resign(p)
	if code := e.fetch("g")[0].ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after resign: %v; want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}

	for _, part := range []int32{p, pj} {
		if err := e.m.Elect(part, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fg := e.fetch("g")[0]; fg.ErrorCode != 0 || len(fg.Topics) != 1 || fg.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offsets after re-election: %v %+v; want 42 reloaded", kerr.ErrorForCode(fg.ErrorCode), fg.Topics)
	}
	if dg := e.describe("j")[0]; dg.ErrorCode != 0 || dg.State == "PreparingRebalance" || len(dg.Members) != 0 {
		t.Fatalf("group j after re-election: %s with %d members; want its unpersisted rebalance dropped", dg.State, len(dg.Members))
	}
}

// TestElectSameEpoch: an election at the epoch held, or an older one,
// keeps the running coordinator and its state.
func TestElectSameEpoch(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close()
	p := PartitionFor("j", testPartitions)
	if err := e.m.Elect(p, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.m.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.m.runner(p)
	parked := e.parkJoin("j")
	for _, epoch := range []int32{2, 1} {
		if err := e.m.Elect(p, epoch); err != nil {
			t.Fatal(err)
		}
		if e.m.runner(p) != r {
			t.Fatalf("election at epoch %d replaced the coordinator at epoch 2", epoch)
		}
	}
	select {
	case resp := <-parked:
		t.Fatalf("parked join answered %v by a repeated election", kerr.ErrorForCode(resp.(*kmsg.JoinGroupResponse).ErrorCode))
	default:
	}
}

// parkJoin starts a JoinGroup that waits out the initial rebalance delay
// and returns once the coordinator holds it.
func (e *testEnv) parkJoin(group string) <-chan kmsg.Response {
	e.t.Helper()
	j := e.do(joinReq(group, "")).(*kmsg.JoinGroupResponse)
	parked := make(chan kmsg.Response, 1)
	go func() {
		resp, _ := e.m.Handle(context.Background(), joinReq(group, j.MemberID))
		parked <- resp
	}()
	for deadline := time.Now().Add(5 * time.Second); e.describe(group)[0].State != "PreparingRebalance"; {
		if time.Now().After(deadline) {
			e.t.Fatal("join not parked in 5s")
		}
		time.Sleep(time.Millisecond)
	}
	return parked
}
