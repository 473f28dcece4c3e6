package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
	"github.com/eddy-streaming/eddy/internal/replica"
)

// newEpochBroker leads t-0 at epochs 0 (offsets 0-2) and 2 (offsets 3-4),
// then at 3 with nothing written yet: epochs 0@0, 2@3, 3@5, log end 5.
func newEpochBroker(t *testing.T) *Broker {
	t.Helper()
	b := newConfigBroker(t, nil, nil)
	for _, e := range []struct{ epoch, n int32 }{{0, 3}, {2, 2}, {3, 0}} {
		if err := b.replicas.Lead("t", 0, 1, e.epoch); err != nil {
			t.Fatal(err)
		}
		p, err := b.replicas.Partition("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if e.n == 0 {
			continue
		}
		opts := replica.AppendOptions{Acks: 1} // stamped with the partition's epoch
		if _, err := p.Append(context.Background(), recordtest.Simple(int(e.n), 10), opts); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestOffsetForLeaderEpochSeveralEpochs(t *testing.T) {
	b := newEpochBroker(t)
	for _, c := range []struct {
		current, epoch int32
		code           int16
		wantEpoch      int32
		wantEnd        int64
	}{
		{-1, 0, 0, 0, 3},
		{-1, 1, 0, 0, 3},
		{-1, 2, 0, 2, 5},
		{3, 3, 0, 3, 5},
		{-1, 4, 0, -1, -1},
		{2, 0, kerr.FencedLeaderEpoch.Code, -1, -1},
		{4, 0, kerr.UnknownLeaderEpoch.Code, -1, -1},
	} {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = c.current, c.epoch
		req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}}}
		resp, err := handleOffsetForLeaderEpoch(b, context.Background(), &Request{Msg: req})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Msg.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
		if got.ErrorCode != c.code || got.LeaderEpoch != c.wantEpoch || got.EndOffset != c.wantEnd {
			t.Errorf("%+v: got %+v", c, got)
		}
	}
}

func fetchT0(t *testing.T, b *Broker, v int16, offset int64, current, lastFetched int32) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = v, -1, 1<<20, -1
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.PartitionMaxBytes = offset, current, lastFetched, 1<<20
	topic, _ := b.meta.Topic("t")
	req.Topics = []kmsg.FetchRequestTopic{{Topic: "t", TopicID: topic.ID, Partitions: []kmsg.FetchRequestTopicPartition{rp}}}
	resp, err := handleFetch(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	resp.Release()
	return resp.Msg.(*kmsg.FetchResponse)
}

func TestFetchSeveralEpochs(t *testing.T) {
	b := newEpochBroker(t)
	for _, v := range []int16{12, 16} {
		resp := fetchT0(t, b, v, 0, 2, -1)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.FencedLeaderEpoch.Code || p.CurrentLeader.LeaderID != 1 || p.CurrentLeader.LeaderEpoch != 3 {
			t.Errorf("v%d fenced: %+v; want FENCED_LEADER_EPOCH, current leader 1 at 3", v, p)
		}
		if wantBrokers := map[int16]int{12: 0, 16: 1}[v]; len(resp.Brokers) != wantBrokers || wantBrokers == 1 && resp.Brokers[0].NodeID != 1 {
			t.Errorf("v%d fenced: brokers %+v; want %d naming node 1", v, resp.Brokers, wantBrokers)
		}
		for _, c := range []struct {
			offset      int64
			lastFetched int32
			want        kmsg.FetchResponseTopicPartitionDivergingEpoch
		}{
			{3, 1, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: 0, EndOffset: 3}},
			{4, 0, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: 0, EndOffset: 3}},
			{3, 0, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: -1, EndOffset: -1}},
			{4, 2, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: -1, EndOffset: -1}},
		} {
			p := fetchT0(t, b, v, c.offset, 3, c.lastFetched).Topics[0].Partitions[0]
			diverged := c.want.Epoch != -1
			if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != c.want.Epoch || p.DivergingEpoch.EndOffset != c.want.EndOffset || diverged != (len(p.RecordBatches) == 0) {
				t.Errorf("v%d offset %d last fetched epoch %d: %+v; want diverging %+v", v, c.offset, c.lastFetched, p, c.want)
			}
		}
	}
}
