package node_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// epochNode starts a node with topic "ep": partition 0 holds 5 records,
// all written at leader epoch 0 (the single node's), partition 1 none.
func epochNode(t *testing.T) *testNode {
	t.Helper()
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "ep", 2, nil)
	cl := newClient(t, tn.KafkaAddr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 5 {
		r := &kgo.Record{Topic: "ep", Partition: 0, Value: []byte{byte('a' + i)}}
		if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// directRequest sends req straight to the node (no client-side sharding by
// partition leader), at the highest version versions and the node share.
func directRequest(t *testing.T, addr string, versions *kversion.Versions, req kmsg.Request) kmsg.Response {
	t.Helper()
	cl := newClient(t, addr, kgo.MaxVersions(versions))
	resp, err := cl.SeedBrokers()[0].Request(testContext(t), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// capped is the latest versions with key capped at version v.
func capped(key, v int16) *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, v)
	return vs
}

type epochCase struct {
	partition, current, epoch int32
	code                      int16
	wantEpoch                 int32
	wantEnd                   int64
}

// TestOffsetForLeaderEpoch asks at every served version: the latest epoch
// ends at the log end offset, an epoch above it is unknown (-1, -1), and
// CurrentLeaderEpoch (v2+) is checked.
func TestOffsetForLeaderEpoch(t *testing.T) {
	tn := epochNode(t)
	var lo, hi int16 = 0, -1
	for _, k := range broker.APIVersionKeys() {
		if k.ApiKey == kmsg.OffsetForLeaderEpoch.Int16() {
			lo, hi = k.MinVersion, k.MaxVersion
		}
	}
	if lo != 0 || hi != (&kmsg.OffsetForLeaderEpochRequest{}).MaxVersion() {
		t.Fatalf("OffsetForLeaderEpoch served v%d-v%d; want v0-v%d", lo, hi, (&kmsg.OffsetForLeaderEpochRequest{}).MaxVersion())
	}
	cases := []epochCase{
		{0, -1, 0, 0, 0, 5},
		{1, -1, 0, 0, 0, 0}, // an empty log: the leader's epoch starts at 0
		{0, -1, 1, 0, -1, -1},
		{0, -1, -1, 0, -1, -1},
		{7, -1, 0, kerr.UnknownTopicOrPartition.Code, -1, -1},
	}
	checked := []epochCase{
		{0, 0, 0, 0, 0, 5},
		{0, 1, 0, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{0, -2, 0, kerr.FencedLeaderEpoch.Code, -1, -1}, // below the partition's 0; only -1 means none
	}
	for v := lo; v <= hi; v++ {
		all := cases
		if v >= 2 {
			all = append(all, checked...)
		}
		checkOffsetForLeaderEpoch(t, tn.KafkaAddr(), v, all)
	}
}

func checkOffsetForLeaderEpoch(t *testing.T, addr string, v int16, cases []epochCase) {
	t.Helper()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ep"
	for _, c := range cases {
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = c.partition, c.current, c.epoch
		rt.Partitions = append(rt.Partitions, p)
	}
	gone := kmsg.NewOffsetForLeaderEpochRequestTopic()
	gone.Topic = "no-such-topic"
	gone.Partitions = rt.Partitions[:1]
	req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt, gone}
	resp := directRequest(t, addr, capped(req.Key(), v), req).(*kmsg.OffsetForLeaderEpochResponse)
	if resp.Version != v || len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != len(cases) {
		t.Fatalf("v%d: response v%d %+v", v, resp.Version, resp.Topics)
	}
	for i, c := range cases {
		got := resp.Topics[0].Partitions[i]
		wantEpoch := c.wantEpoch
		if v == 0 {
			wantEpoch = got.LeaderEpoch // v0 answers carry no epoch
		}
		if got.Partition != c.partition || got.ErrorCode != c.code || got.LeaderEpoch != wantEpoch || got.EndOffset != c.wantEnd {
			t.Errorf("v%d %+v: got %+v", v, c, got)
		}
	}
	if p := resp.Topics[1].Partitions; len(p) != 1 || p[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("v%d unknown topic: %+v", v, p)
	}
}

// fetchEpoch fetches ep-0 from offset with the given epochs at Fetch v,
// and returns its partition answer and how long it took.
func fetchEpoch(t *testing.T, tn *testNode, v int16, offset int64, current, lastFetched int32) (kmsg.FetchResponseTopicPartition, time.Duration) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 20000, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "ep"
	if v >= 13 {
		rt.TopicID = topicID(t, tn, "ep")
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.PartitionMaxBytes = offset, current, lastFetched, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	fr := directRequest(t, tn.KafkaAddr(), capped(req.Key(), v), req).(*kmsg.FetchResponse)
	if fr.Version != v || fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d: %+v", v, fr)
	}
	return fr.Topics[0].Partitions[0], time.Since(start)
}

func topicID(t *testing.T, tn *testNode, topic string) [16]byte {
	t.Helper()
	details, err := newAdmin(t, tn.KafkaAddr()).ListTopics(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	return details[topic].ID
}

// TestFetchLeaderEpochs: a CurrentLeaderEpoch above the partition's is
// unknown (negative ones mean none, as Kafka's FetchRequest reads them);
// a LastFetchedEpoch whose end here is before the fetch offset (a fetcher
// ahead of this log) gets DivergingEpoch at once and no records; one above
// every epoch here cannot be placed: OFFSET_OUT_OF_RANGE, as Kafka.
func TestFetchLeaderEpochs(t *testing.T) {
	tn := epochNode(t)
	max := (&kmsg.FetchRequest{}).MaxVersion()
	for _, v := range []int16{9, 11, 12, max} {
		for _, current := range []int32{-1, -2, 0} {
			if p, _ := fetchEpoch(t, tn, v, 2, current, -1); p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 5 {
				t.Errorf("v%d current epoch %d: code %d, %d bytes, hw %d", v, current, p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
			}
		}
		if p, took := fetchEpoch(t, tn, v, 2, 1, -1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code || len(p.RecordBatches) != 0 || took > 10*time.Second {
			t.Errorf("v%d current epoch 1: code %d, %d bytes, after %v", v, p.ErrorCode, len(p.RecordBatches), took)
		}
	}
	for _, v := range []int16{12, max} {
		p, took := fetchEpoch(t, tn, v, 7, 0, 0)
		if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != 0 || p.DivergingEpoch.EndOffset != 5 || len(p.RecordBatches) != 0 || took > 10*time.Second {
			t.Errorf("v%d ahead of the log: %+v after %v; want diverging epoch 0 ending at 5, at once", v, p, took)
		}
		if p, _ := fetchEpoch(t, tn, v, 3, 0, 0); p.ErrorCode != 0 || p.DivergingEpoch.Epoch != -1 || len(p.RecordBatches) == 0 {
			t.Errorf("v%d within epoch 0: %+v; want records", v, p)
		}
		if p, _ := fetchEpoch(t, tn, v, 5, 0, 1); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.DivergingEpoch.Epoch != -1 {
			t.Errorf("v%d last fetched epoch 1: %+v; want offset out of range", v, p)
		}
	}
}

// TestListOffsetsLeaderEpochs: ListOffsets v4+ checks CurrentLeaderEpoch;
// like OffsetForLeaderEpoch, only -1 means none.
func TestListOffsetsLeaderEpochs(t *testing.T) {
	tn := epochNode(t)
	for _, v := range []int16{4, (&kmsg.ListOffsetsRequest{}).MaxVersion()} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "ep"
		for _, current := range []int32{-1, 0, 1, -2} {
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.CurrentLeaderEpoch, p.Timestamp = current, -1
			rt.Partitions = append(rt.Partitions, p)
		}
		req.Topics = append(req.Topics, rt)
		resp := directRequest(t, tn.KafkaAddr(), capped(req.Key(), v), req).(*kmsg.ListOffsetsResponse)
		if resp.Version != v || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 4 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		want := []struct {
			code   int16
			offset int64
		}{{0, 5}, {0, 5}, {kerr.UnknownLeaderEpoch.Code, -1}, {kerr.FencedLeaderEpoch.Code, -1}}
		for i, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != want[i].code || p.Offset != want[i].offset {
				t.Errorf("v%d current epoch %d: code %d offset %d; want %+v", v, rt.Partitions[i].CurrentLeaderEpoch, p.ErrorCode, p.Offset, want[i])
			}
		}
	}
}

// TestConsumeAfterEpochs: kgo consumes normally (its fetches carry the
// current leader epoch 0, and it validates positions with
// OffsetForLeaderEpoch on some paths).
func TestConsumeAfterEpochs(t *testing.T) {
	tn := epochNode(t)
	if got := consumeAll(t, tn.KafkaAddr(), "ep", 5); len(got) != 5 {
		t.Fatalf("consumed %d records; want 5", len(got))
	}
}
