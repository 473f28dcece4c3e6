package node_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeProducersOn sends DescribeProducers for topic's partitions to one
// broker, bypassing the client's routing to leaders.
func describeProducersOn(t *testing.T, cl *kgo.Client, broker int32, topic string, partitions ...int32) []kmsg.DescribeProducersResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: topic, Partitions: partitions}}
	resp, err := req.RequestWith(testContext(t), cl.Broker(int(broker)))
	if err != nil {
		t.Fatalf("DescribeProducers to broker %d: %v", broker, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(partitions) {
		t.Fatalf("DescribeProducers answered %+v for %s %v", resp.Topics, topic, partitions)
	}
	return resp.Topics[0].Partitions
}

// producerOf describes one partition through kadm and returns its producer
// id's state.
func producerOf(t *testing.T, adm *kadm.Client, topic string, p int32, id int64) kadm.DescribedProducer {
	t.Helper()
	described, err := adm.DescribeProducers(testContext(t), kadm.TopicsSet{topic: {p: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	dp, ok := described[topic].Partitions[p]
	if !ok || dp.Err != nil {
		t.Fatalf("%s-%d: described %+v", topic, p, dp)
	}
	pr, ok := dp.ActiveProducers[id]
	if !ok {
		t.Fatalf("%s-%d: producer %d not among %+v", topic, p, id, dp.ActiveProducers)
	}
	return pr
}

// TestDescribeProducers: a transactional and an idempotent producer as
// DescribeProducers shows them: the open transaction's first offset, then
// -1 and the coordinator's epoch once committed; errors for partitions
// that do not exist, or no longer do.
func TestDescribeProducers(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "dp"
	createTopic(t, adm, topic, 2, nil)

	idem := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var idemLast *kgo.Record
	for i := range 3 {
		r := &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, "idem-%d", i)}
		if err := idem.ProduceSync(testContext(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		idemLast = r
	}
	// The committed transaction before puts the open one's start past 0.
	prod := txnProducer(t, tn.KafkaAddr(), "tx-dp", topic)
	if err := produceTxn(t, prod, "first", 2, 1, true); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var open []*kgo.Record
	for i := range 2 {
		r := &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "open-%d", i)}
		if err := prod.ProduceSync(testContext(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		open = append(open, r)
	}
	d := describeTxn(t, adm, "tx-dp", "Ongoing")

	pr := producerOf(t, adm, topic, 0, d.ProducerID)
	want := kadm.DescribedProducer{Leader: 1, Topic: topic, Partition: 0, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
		LastSequence: 3, LastTimestamp: open[1].Timestamp.UnixMilli(), CoordinatorEpoch: pr.CoordinatorEpoch,
		CurrentTxnStartOffset: open[0].Offset}
	if pr != want || open[0].Offset != 3 { // 2 records and a COMMIT marker before it
		t.Errorf("open transaction: described %+v, want %+v (first record at %d)", pr, want, open[0].Offset)
	}
	if pr.CoordinatorEpoch < 0 {
		t.Errorf("coordinator epoch %d after a committed transaction, want the marker's", pr.CoordinatorEpoch)
	}
	ipid, iepoch, err := idem.ProducerID(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	ip := producerOf(t, adm, topic, 1, ipid)
	iwant := kadm.DescribedProducer{Leader: 1, Topic: topic, Partition: 1, ProducerID: ipid, ProducerEpoch: iepoch,
		LastSequence: 2, LastTimestamp: idemLast.Timestamp.UnixMilli(), CoordinatorEpoch: -1, CurrentTxnStartOffset: -1}
	if ip != iwant {
		t.Errorf("idempotent producer: described %+v, want %+v", ip, iwant)
	}

	if err := prod.EndTransaction(testContext(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	describeTxn(t, adm, "tx-dp", "CompleteCommit")
	pr = producerOf(t, adm, topic, 0, d.ProducerID)
	if pr.CurrentTxnStartOffset != -1 || pr.LastSequence != 3 || pr.CoordinatorEpoch < 0 || pr.LastTimestamp < open[1].Timestamp.UnixMilli() {
		t.Errorf("after the commit: described %+v, want no open transaction, a coordinator epoch and the marker's time", pr)
	}

	cl := newClient(t, tn.KafkaAddr())
	for _, p := range describeProducersOn(t, cl, 1, topic, 2, -1) {
		if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("partition %d of a 2-partition topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if _, err := adm.DeleteTopics(testContext(t), topic); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{topic, "never-created"} {
		for _, p := range describeProducersOn(t, cl, 1, name, 0, 1) {
			if p.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(p.ActiveProducers) != 0 {
				t.Errorf("%s-%d: %v with %d producers, want UNKNOWN_TOPIC_OR_PARTITION", name, p.Partition, kerr.ErrorForCode(p.ErrorCode), len(p.ActiveProducers))
			}
		}
	}
	if p := describeProducersOn(t, cl, 1, "bad/name", 0)[0]; p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("invalid topic name: %v, want INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestDescribeProducersReplicas: as in Kafka, the leader and a follower
// both answer from their replica; a broker with no replica answers
// NOT_LEADER_OR_FOLLOWER.
func TestDescribeProducersReplicas(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	adm := newAdmin(t, c.cfgs[0].KafkaAddr)
	const topic = "dp-replicas"
	createTopicRF(t, adm, topic, 1, 2, nil)
	c.waitTopicEverywhere(topic)
	md, err := adm.Metadata(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	pd := md.Topics[topic].Partitions[0]
	prod := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic))
	if err := prod.ProduceSync(testContext(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, _, err := prod.ProducerID(testContext(t))
	if err != nil {
		t.Fatal(err)
	}

	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	for id := int32(1); id <= 3; id++ {
		hosts := false
		for _, r := range pd.Replicas {
			hosts = hosts || r == id
		}
		// A follower that was out of the ISR at the produce may still be
		// catching up, so each broker is polled.
		waitFor(t, fmt.Sprintf("broker %d to describe producer %d", id, pid), func() bool {
			p := describeProducersOn(t, cl, id, topic, 0)[0]
			if !hosts {
				if p.ErrorCode != kerr.NotLeaderForPartition.Code {
					t.Fatalf("broker %d without a replica: %v, want NOT_LEADER_OR_FOLLOWER", id, kerr.ErrorForCode(p.ErrorCode))
				}
				return true
			}
			return p.ErrorCode == 0 && len(p.ActiveProducers) == 1 && p.ActiveProducers[0].ProducerID == pid &&
				p.ActiveProducers[0].LastSequence == 0 && p.ActiveProducers[0].CurrentTxnStartOffset == -1
		})
	}
}
