package broker

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataWire asks b for topic r's metadata at version v and returns the
// answer as a client decodes it at v.
func metadataWire(t *testing.T, b *Broker, v int16, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = v
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp, err := handleMetadata(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	got := req.ResponseKind().(*kmsg.MetadataResponse)
	if err := got.ReadFrom(resp.Msg.AppendTo(nil)); err != nil {
		t.Fatalf("v%d response does not decode: %v", v, err)
	}
	if len(got.Topics) != 1 || got.Topics[0].ErrorCode != 0 {
		t.Fatalf("v%d: topics %+v", v, got.Topics)
	}
	return got.Topics[0]
}

// Partitions with a replica on a fenced broker list it offline (v5+);
// those with no live leader answer LEADER_NOT_AVAILABLE, leader -1, in
// every version. A standalone node's partitions are all online.
func TestMetadataOfflineAndLeaderless(t *testing.T) {
	for v := int16(0); v <= 13; v++ {
		for _, p := range metadataWire(t, newConfigBroker(t, nil, nil), v, "t").Partitions {
			if p.ErrorCode != 0 || p.Leader != 1 || len(p.OfflineReplicas) != 0 {
				t.Errorf("standalone v%d: partition %+v", v, p)
			}
		}
	}

	b := newClusterBroker(t)
	if err := b.ctrl.FenceBroker(2, 1); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int16{4, 5, 13} {
		for _, p := range metadataWire(t, b, v, "r").Partitions {
			wantOffline := []int32{2}
			if v < 5 {
				wantOffline = nil
			}
			if p.ErrorCode != 0 || p.Leader == 2 || p.Leader < 1 || !slices.Equal(p.OfflineReplicas, wantOffline) || slices.Contains(p.ISR, 2) {
				t.Errorf("broker 2 fenced, v%d: partition %+v", v, p)
			}
		}
	}

	for _, id := range []int32{1, 3} {
		if err := b.ctrl.FenceBroker(id, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int16{0, 4, 5, 13} {
		for _, p := range metadataWire(t, b, v, "r").Partitions {
			wantOffline := p.Replicas
			if v < 5 {
				wantOffline = nil
			}
			if p.ErrorCode != kerr.LeaderNotAvailable.Code || p.Leader != -1 || !slices.Equal(p.OfflineReplicas, wantOffline) || len(p.ISR) != 1 {
				t.Errorf("every broker fenced, v%d: partition %+v", v, p)
			}
		}
	}
}

func describeClusterBrokers(t *testing.T, b *Broker, v int16, fenced bool) []kmsg.DescribeClusterResponseBroker {
	t.Helper()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version, req.IncludeFencedBrokers = v, fenced
	resp, err := handleDescribeCluster(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	got := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if err := got.ReadFrom(resp.Msg.AppendTo(nil)); err != nil {
		t.Fatalf("v%d response does not decode: %v", v, err)
	}
	if got.ErrorCode != 0 {
		t.Fatalf("v%d: %v", v, kerr.ErrorForCode(got.ErrorCode))
	}
	return got.Brokers
}

// DescribeCluster lists the live brokers; v2 adds the fenced ones, flagged,
// when asked to (older versions cannot ask).
func TestDescribeClusterFencedBrokers(t *testing.T) {
	if got := describeClusterBrokers(t, newConfigBroker(t, nil, nil), 2, true); len(got) != 1 || got[0].NodeID != 1 || got[0].IsFenced {
		t.Errorf("standalone: brokers %+v", got)
	}
	b := newClusterBroker(t)
	if err := b.ctrl.FenceBroker(2, 1); err != nil {
		t.Fatal(err)
	}
	ids := func(bs []kmsg.DescribeClusterResponseBroker) (ids []int32, fenced []bool) {
		for _, br := range bs {
			ids, fenced = append(ids, br.NodeID), append(fenced, br.IsFenced)
		}
		return ids, fenced
	}
	for _, c := range []struct {
		v          int16
		ask        bool
		wantIDs    []int32
		wantFenced []bool
	}{
		{0, true, []int32{1, 3}, []bool{false, false}},
		{1, true, []int32{1, 3}, []bool{false, false}},
		{2, false, []int32{1, 3}, []bool{false, false}},
		{2, true, []int32{1, 2, 3}, []bool{false, true, false}},
	} {
		gotIDs, gotFenced := ids(describeClusterBrokers(t, b, c.v, c.ask))
		if !slices.Equal(gotIDs, c.wantIDs) || !slices.Equal(gotFenced, c.wantFenced) {
			t.Errorf("v%d include fenced %v: brokers %v fenced %v, want %v %v", c.v, c.ask, gotIDs, gotFenced, c.wantIDs, c.wantFenced)
		}
	}
}
