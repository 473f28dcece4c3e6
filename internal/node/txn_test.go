package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// txnSettings make the coordinator look for timed out transactions often,
// so a test sees one aborted within a second or so.
var txnSettings = map[string]string{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"}

// txnProducer is a transactional client of id writing to topic's
// partitions as each record says.
func txnProducer(t *testing.T, addr, id, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)
	return newClient(t, addr, all...)
}

// produceTxn runs one transaction of n records spread over partitions,
// values prefix-i, and commits or aborts it.
func produceTxn(t *testing.T, cl *kgo.Client, prefix string, n, partitions int, commit bool) error {
	t.Helper()
	ctx := testContext(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for i := range n {
		r := &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			// End the transaction the client is in; the produce error
			// is what the caller checks.
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// describeTxn polls DescribeTransactions until id is in one of states.
func describeTxn(t *testing.T, adm *kadm.Client, id string, states ...string) kadm.DescribedTransaction {
	t.Helper()
	var last kadm.DescribedTransaction
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		described, err := adm.DescribeTransactions(testContext(t), id)
		if err != nil {
			continue
		}
		if d, ok := described[id]; ok && d.Err == nil {
			last = d
			if slices.Contains(states, d.State) {
				return d
			}
		}
	}
	t.Fatalf("%s: state %q, want one of %v", id, last.State, states)
	return last
}

// TestTransactions runs committed and aborted transactions over several
// partitions with franz-go, then checks what a read_uncommitted consumer
// sees, the markers in the logs, and the admin views of the coordinator.
func TestTransactions(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic, parts = "txn", 3
	createTopic(t, adm, topic, parts, nil)

	prod := txnProducer(t, tn.KafkaAddr(), "tx-1", topic)
	if err := produceTxn(t, prod, "committed", 6, parts, true); err != nil {
		t.Fatalf("committed transaction: %v", err)
	}
	if err := produceTxn(t, prod, "aborted", 3, parts, false); err != nil {
		t.Fatalf("aborted transaction: %v", err)
	}

	// read_uncommitted sees every data record, aborted ones included; the
	// markers (one per transaction and partition) are skipped.
	got := consumeAll(t, tn.KafkaAddr(), topic, 9, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	var values []string
	for _, r := range got {
		values = append(values, string(r.Value))
	}
	slices.Sort(values)
	want := []string{"aborted-0", "aborted-1", "aborted-2", "committed-0", "committed-1", "committed-2",
		"committed-3", "committed-4", "committed-5"}
	if !slices.Equal(values, want) {
		t.Fatalf("read_uncommitted consumed %v, want %v", values, want)
	}
	d := describeTxn(t, adm, "tx-1", "CompleteAbort")
	if d.ProducerID < 0 || len(d.Topics) != 0 {
		t.Errorf("described %+v, want a producer id and no partitions", d)
	}
	// Complete, so every marker is written. Each partition: two committed records, a COMMIT marker, one aborted
	// record, an ABORT marker.
	ends, err := adm.ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 5 {
			t.Errorf("%s-%d ends at %d, want 5 (3 records, 2 markers)", o.Topic, o.Partition, o.Offset)
		}
	})

	// read_committed skips the aborted records: after one more committed
	// transaction, it reads exactly the committed ones.
	if err := produceTxn(t, prod, "after", parts, parts, true); err != nil {
		t.Fatalf("third transaction: %v", err)
	}
	committed := consumeAll(t, tn.KafkaAddr(), topic, 9, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	values = values[:0]
	for _, r := range committed {
		values = append(values, string(r.Value))
	}
	slices.Sort(values)
	want = []string{"after-0", "after-1", "after-2", "committed-0", "committed-1", "committed-2",
		"committed-3", "committed-4", "committed-5"}
	if !slices.Equal(values, want) {
		t.Fatalf("read_committed consumed %v, want %v", values, want)
	}

	// The commit answered once PrepareCommit was written; the coordinator
	// writes CompleteCommit when the markers are, a moment later.
	var listed kadm.ListedTransactions
	waitFor(t, "tx-1 to list as CompleteCommit", func() bool {
		listed, err = adm.ListTransactions(testContext(t), nil, nil)
		l, ok := listed["tx-1"]
		return err == nil && ok && l.State == "CompleteCommit"
	})
	if l := listed["tx-1"]; l.ProducerID != d.ProducerID {
		t.Errorf("listed %+v, want tx-1 with producer %d", listed, d.ProducerID)
	}
}

// TestTransactionFencing checks that a second producer of a transactional
// id fences the first, whose open transaction the coordinator aborts.
func TestTransactionFencing(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "fence"
	createTopic(t, adm, topic, 2, nil)

	first := txnProducer(t, tn.KafkaAddr(), "tx-fence", topic)
	ctx := testContext(t)
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("first-open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := describeTxn(t, adm, "tx-fence", "Ongoing")

	second := txnProducer(t, tn.KafkaAddr(), "tx-fence", topic)
	if err := produceTxn(t, second, "second", 2, 2, true); err != nil {
		t.Fatalf("the second producer's transaction: %v", err)
	}
	after := describeTxn(t, adm, "tx-fence", "CompleteCommit")
	if after.ProducerEpoch <= before.ProducerEpoch {
		t.Errorf("epoch %d after fencing, %d before; want it bumped", after.ProducerEpoch, before.ProducerEpoch)
	}

	err := first.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("first-late")}).FirstErr()
	if err == nil {
		err = first.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	// Partition 0: first-open, the coordinator's ABORT, second-0, COMMIT;
	// partition 1: second-1, COMMIT. first-late would be one more.
	checkEndOffsets(t, adm, topic, map[int32]int64{0: 4, 1: 2})
}

// checkEndOffsets compares topic's end offsets with want.
func checkEndOffsets(t *testing.T, adm *kadm.Client, topic string, want map[int32]int64) {
	t.Helper()
	ends, err := adm.ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if o, ok := ends.Lookup(topic, p); !ok || o.Err != nil || o.Offset != w {
			t.Errorf("%s-%d ends at %d (%v), want %d", topic, p, o.Offset, o.Err, w)
		}
	}
}

// TestTransactionTimeout checks that a transaction left open past its
// transaction.timeout.ms is aborted by the coordinator, and its producer
// fenced.
func TestTransactionTimeout(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "stale"
	createTopic(t, adm, topic, 1, nil)
	prod := txnProducer(t, tn.KafkaAddr(), "tx-stale", topic, kgo.TransactionTimeout(time.Second))
	ctx := testContext(t)
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("left-open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	open := describeTxn(t, adm, "tx-stale", "Ongoing")
	aborted := describeTxn(t, adm, "tx-stale", "CompleteAbort")
	if aborted.ProducerEpoch <= open.ProducerEpoch {
		t.Errorf("epoch %d after the timeout, %d before; want it bumped", aborted.ProducerEpoch, open.ProducerEpoch)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 2 {
		t.Errorf("%s-0 ends at %d, want 2 (the record and its ABORT marker)", topic, o.Offset)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("committing a transaction the coordinator aborted succeeded")
	}
}

// TestTransactionNotAdded checks that a transactional batch of an
// original-protocol client (Produce v11) for a partition its transaction
// did not add is refused (KIP-890 part 1 verification), while a
// transaction version 2 client's (Produce v12) adds the partition itself
// (part 2).
func TestTransactionNotAdded(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "unadded"
	createTopic(t, adm, topic, 3, nil)
	v11 := kversion.Stable()
	v11.SetMaxKeyVersion(kmsg.Produce.Int16(), 11)
	cl := newClient(t, tn.KafkaAddr(), kgo.MaxVersions(v11))
	ctx := testContext(t)
	id := "tx-raw"
	x := initRawTxn(t, cl, id)
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, x.pid, x.epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	if _, err := add.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int16{0: 0, 1: kerr.InvalidTxnState.Code} {
		code := produceTransactional(t, cl, id, topic, p, x.pid, x.epoch)
		if code != want {
			t.Errorf("Produce v11, transactional, to %s-%d: %v, want %v", topic, p, kerr.ErrorForCode(code), kerr.ErrorForCode(want))
		}
	}
	// Produce v12 adds partition 2 to the open transaction.
	if code := produceTransactional(t, namedTopicsClient(t, tn.KafkaAddr()), id, topic, 2, x.pid, x.epoch); code != 0 {
		t.Fatalf("Produce v12, transactional, to %s-2: %v", topic, kerr.ErrorForCode(code))
	}
	d := describeTxn(t, adm, id, "Ongoing")
	if got := d.Topics.Sorted(); len(got) != 1 || !slices.Equal(got[0].Partitions, []int32{0, 2}) {
		t.Errorf("transaction holds %v, want %s partitions [0 2]", got, topic)
	}
}

// produceTransactional sends one transactional batch by hand and returns
// the partition's error code.
func produceTransactional(t *testing.T, cl *kgo.Client, id, topic string, p int32, pid int64, epoch int16) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = &id, -1, 10000
	batch := recordtest.Batch(recordtest.Options{Transactional: true,
		Producer: &recordtest.Producer{ID: pid, Epoch: epoch, Sequence: 0}}, recordtest.Values(1, 4))
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestTransactionOldVersions runs the transaction APIs at version 0 (and
// a transaction through franz-go limited to Kafka 0.11's versions, the
// first with transactions).
func TestTransactionOldVersions(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "old"
	createTopic(t, adm, topic, 2, nil)

	old := txnProducer(t, tn.KafkaAddr(), "tx-old", topic, kgo.MaxVersions(kversion.V0_11_0()))
	if err := produceTxn(t, old, "old", 4, 2, true); err != nil {
		t.Fatalf("transaction at Kafka 0.11's versions: %v", err)
	}
	describeTxn(t, adm, "tx-old", "CompleteCommit")

	v0 := kversion.Stable()
	for _, k := range []kmsg.Key{kmsg.InitProducerID, kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn,
		kmsg.WriteTxnMarkers, kmsg.DescribeTransactions, kmsg.ListTransactions} {
		v0.SetMaxKeyVersion(k.Int16(), 0)
	}
	cl := newClient(t, tn.KafkaAddr(), kgo.MaxVersions(v0))
	ctx := testContext(t)
	id := "tx-v0"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	ir, err := init.RequestWith(ctx, cl)
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s v0: %v", what, err)
		}
	}
	check("InitProducerId", err)
	check("InitProducerId", kerr.ErrorForCode(ir.ErrorCode))
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, ir.ProducerID, ir.ProducerEpoch, "g"
	ar, err := add.RequestWith(ctx, cl)
	check("AddOffsetsToTxn", err)
	check("AddOffsetsToTxn", kerr.ErrorForCode(ar.ErrorCode))
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	ap.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{1}}}
	apr, err := ap.RequestWith(ctx, cl)
	check("AddPartitionsToTxn", err)
	check("AddPartitionsToTxn", kerr.ErrorForCode(apr.Topics[0].Partitions[0].ErrorCode))
	dr := kmsg.NewPtrDescribeTransactionsRequest()
	dr.TransactionalIDs = []string{id}
	drr, err := dr.RequestWith(ctx, cl)
	check("DescribeTransactions", err)
	check("DescribeTransactions", kerr.ErrorForCode(drr.TransactionStates[0].ErrorCode))
	if s := drr.TransactionStates[0]; s.State != "Ongoing" || len(s.Topics) != 2 {
		t.Errorf("described %+v, want Ongoing with __consumer_offsets and %s", s, topic)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, ir.ProducerID, ir.ProducerEpoch, false
	er, err := end.RequestWith(ctx, cl)
	check("EndTxn", err)
	check("EndTxn", kerr.ErrorForCode(er.ErrorCode))
	describeTxn(t, adm, id, "CompleteAbort")
	lr, err := kmsg.NewPtrListTransactionsRequest().RequestWith(ctx, cl)
	check("ListTransactions", err)
	check("ListTransactions", kerr.ErrorForCode(lr.ErrorCode))
	if len(lr.TransactionStates) != 2 {
		t.Errorf("listed %d transactional ids, want 2", len(lr.TransactionStates))
	}
	wm := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch = ir.ProducerID, ir.ProducerEpoch, 0
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: topic, Partitions: []int32{0}}}
	wm.Markers = append(wm.Markers, m)
	wr, err := wm.RequestWith(ctx, cl)
	check("WriteTxnMarkers", err)
	check("WriteTxnMarkers", kerr.ErrorForCode(wr.Markers[0].Topics[0].Partitions[0].ErrorCode))
}

// TestTransactionCoordinatorFailover kills the coordinator's node of a
// three-node cluster in the middle of a transaction. The new coordinator
// loads the transaction from __transaction_state and the commit goes
// through it. Should the client's retries run out against the dead node
// first, the commit's outcome is unknown to it; the application's recovery
// is a new producer of the same transactional id (whose InitProducerId
// aborts what is left open) redoing the transaction. Either way each
// committed record is read exactly once and nothing aborted is visible.
func TestTransactionCoordinatorFailover(t *testing.T) {
	c := newProcCluster(t, 3, "transaction.abort.timed.out.transaction.cleanup.interval.ms=100")
	adm := kadm.NewClient(c.client())
	const topic = "ha"
	createTopicRF(t, adm, topic, 3, 3, nil)
	for p := range int32(3) {
		c.waitFullISR(adm, topic, p)
	}
	opts := []kgo.Opt{kgo.TransactionalID("tx-ha"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(100 * time.Millisecond),
		// Outlast the failure detection and election on a loaded machine.
		kgo.RequestRetries(100), kgo.RetryTimeout(time.Minute)}
	prod := c.client(opts...)
	if err := produceTxn(t, prod, "before", 3, 3, true); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: int32(i), Value: fmt.Appendf(nil, "during-%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	coords := adm.FindTxnCoordinators(ctx, "tx-ha")
	coord, ok := coords["tx-ha"]
	if !ok || coord.Err != nil {
		t.Fatalf("finding the coordinator of tx-ha: %+v", coords)
	}
	c.nodes[coord.NodeID-1].kill()
	t.Logf("killed coordinator %d mid-transaction", coord.NodeID)

	wantEnd := int64(4) // before-i, COMMIT, during-i, COMMIT
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Logf("commit outcome unknown to the client (%v): redoing it with a new producer", err)
		prod.Close()
		prod = c.client(opts...)
		if err := produceTxn(t, prod, "during", 3, 3, true); err != nil {
			t.Fatalf("redoing the transaction: %v", err)
		}
		wantEnd = 6 // ... during-i, ABORT, during-i, COMMIT
	}
	adm2 := kadm.NewClient(c.client())
	d := describeTxn(t, adm2, "tx-ha", "CompleteCommit")
	if d.Coordinator == coord.NodeID {
		t.Errorf("described by the killed coordinator %d", coord.NodeID)
	}
	checkEndOffsets(t, adm2, topic, map[int32]int64{0: wantEnd, 1: wantEnd, 2: wantEnd})
	alive := c.kafka[coord.NodeID%3] // the next node, up
	var got []string
	for _, r := range consumeExactly(t, alive, topic, 6, kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		got = append(got, string(r.Value))
	}
	slices.Sort(got)
	want := []string{"before-0", "before-1", "before-2", "during-0", "during-1", "during-2"}
	if !slices.Equal(got, want) {
		t.Errorf("read_committed consumed %q, want %q", got, want)
	}
}

// TestTransactionVersions runs franz-go's transactions against a node
// finalizing each transaction.version: at 2 the client takes KIP-890
// part 2 (each EndTxn bumps the epoch; no AddPartitionsToTxn or
// AddOffsetsToTxn), at 0 the original protocol (one epoch throughout).
func TestTransactionVersions(t *testing.T) {
	for _, level := range []string{"0", "2"} {
		t.Run("transaction.version="+level, func(t *testing.T) {
			tn := startNode(t, "", map[string]string{"eddy.transaction.version": level})
			cl := newClient(t, tn.KafkaAddr())
			av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testContext(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			finalized := "0"
			for _, f := range av.FinalizedFeatures {
				if f.Name == "transaction.version" {
					finalized = fmt.Sprint(f.MaxVersionLevel)
				}
			}
			if finalized != level {
				t.Errorf("ApiVersions finalizes transaction.version %s, want %s", finalized, level)
			}
			adm := newAdmin(t, tn.KafkaAddr())
			createTopic(t, adm, "tv", 2, nil)
			prod := txnProducer(t, tn.KafkaAddr(), "tx-tv", "tv")
			for i := range 3 {
				if err := produceTxn(t, prod, fmt.Sprint("t", i), 4, 2, i != 1); err != nil {
					t.Fatalf("transaction %d: %v", i, err)
				}
			}
			d := describeTxn(t, adm, "tx-tv", "CompleteCommit")
			want := int16(0)
			if level == "2" {
				want = 3 // one bump per EndTxn
			}
			if d.ProducerEpoch != want {
				t.Errorf("producer epoch %d after three transactions, want %d", d.ProducerEpoch, want)
			}
			got := consumeExactly(t, tn.KafkaAddr(), "tv", 8, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			for _, r := range got {
				if strings.HasPrefix(string(r.Value), "t1-") {
					t.Errorf("read aborted %q", r.Value)
				}
			}
		})
	}
}

// TestTransactionConcurrentInitAndUnknownID sends InitProducerId for one
// transactional id from many clients at once: every one ends with its own
// epoch (each call fences the one before), and only the last may
// transact. EndTxn and AddPartitionsToTxn for an id never initialized
// answer INVALID_PRODUCER_ID_MAPPING.
func TestTransactionConcurrentInitAndUnknownID(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "ci", 1, nil)
	cl := txnV1Client(t, tn.KafkaAddr(), 4)
	const n = 8
	txns := make([]*rawTxn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { txns[i] = initRawTxn(t, cl, "tx-concurrent") })
	}
	wg.Wait()
	epochs := make(map[int16]bool)
	var last *rawTxn
	for _, x := range txns {
		if x == nil {
			t.Fatal("an InitProducerId failed")
		}
		if epochs[x.epoch] {
			t.Errorf("epoch %d handed out twice", x.epoch)
		}
		epochs[x.epoch] = true
		if last == nil || x.epoch > last.epoch {
			last = x
		}
	}
	for _, x := range txns {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = x.id, x.pid, x.epoch, "g"
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		want := kerr.ProducerFenced.Code
		if x == last {
			want = 0
		}
		if resp.ErrorCode != want {
			t.Errorf("AddOffsetsToTxn at epoch %d: %v, want %v", x.epoch, kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(want))
		}
	}

	ctx := testContext(t)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx-never", 42, 0, true
	er, err := end.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if er.ErrorCode != kerr.InvalidProducerIDMapping.Code {
		t.Errorf("EndTxn for an unknown id: %v, want INVALID_PRODUCER_ID_MAPPING", kerr.ErrorForCode(er.ErrorCode))
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "tx-never", 42, 0
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "ci", Partitions: []int32{0}}}
	ar, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := ar.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidProducerIDMapping.Code {
		t.Errorf("AddPartitionsToTxn for an unknown id: %v, want INVALID_PRODUCER_ID_MAPPING", kerr.ErrorForCode(code))
	}
}

// TestListOffsetsOpenTransaction checks ListOffsets while a transaction is
// open, with a plain record after it: read_committed's latest offset is
// the last stable offset, and a timestamp lookup that lands at or past
// it finds nothing (-1), as in Kafka; read_uncommitted reaches the high
// watermark. confluent-kafka's offsets_for_times relies on this
// (scripts/conformance/transactions.py).
func TestListOffsetsOpenTransaction(t *testing.T) {
	tn := startNode(t, "", txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic = "lso"
	createTopic(t, adm, topic, 1, nil)
	ctx := testContext(t)
	prod := txnProducer(t, tn.KafkaAddr(), "tx-lso", topic)
	if err := produceTxn(t, prod, "committed", 2, 1, true); err != nil { // offsets 0, 1, marker 2
		t.Fatal(err)
	}
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	openTS := time.Now().Add(time.Minute) // later than the marker's time
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("open"), Timestamp: openTS}).FirstErr(); err != nil {
		t.Fatal(err) // offset 3
	}
	plain := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("plain"), Timestamp: openTS.Add(time.Millisecond)}).FirstErr(); err != nil {
		t.Fatal(err) // offset 4
	}

	for _, tc := range []struct {
		isolation int8
		ts        int64
		want      int64
	}{
		{0, -1, 5},
		{1, -1, 3},
		{0, openTS.UnixMilli(), 3},
		{1, openTS.UnixMilli(), -1},
		{0, -3, 4},
		{1, -3, -1},
		{1, 0, 0}, // a committed record is found under read_committed
	} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = tc.isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = tc.ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.Offset != tc.want {
			t.Errorf("isolation %d timestamp %d: offset %d (%v), want %d",
				tc.isolation, tc.ts, got.Offset, kerr.ErrorForCode(got.ErrorCode), tc.want)
		}
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}
