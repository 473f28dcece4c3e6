package node_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawTxn drives one transactional id with hand-made requests.
type rawTxn struct {
	t     *testing.T
	cl    *kgo.Client
	id    string
	pid   int64
	epoch int16
}

func initRawTxn(t *testing.T, cl *kgo.Client, id string) *rawTxn {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 60000
	var resp *kmsg.InitProducerIDResponse
	var err error
	for range 100 {
		resp, err = req.RequestWith(testContext(t), cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			break // retried while an open transaction is aborted first
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("InitProducerId %s: %v", id, err)
	}
	return &rawTxn{t: t, cl: cl, id: id, pid: resp.ProducerID, epoch: resp.ProducerEpoch}
}

func (x *rawTxn) addOffsets(group string) {
	x.t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = x.id, x.pid, x.epoch, group
	resp, err := req.RequestWith(testContext(x.t), x.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		x.t.Fatalf("AddOffsetsToTxn: %v", err)
	}
}

// txnV1Client is a client of the original transaction protocol (EndTxn
// up to v4: v5 is transaction version 2, which bumps the epoch at each
// end) whose TxnOffsetCommit goes up to version v.
func txnV1Client(t *testing.T, addr string, v int16) *kgo.Client {
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.EndTxn.Int16(), 4)
	versions.SetMaxKeyVersion(kmsg.TxnOffsetCommit.Int16(), v)
	return newClient(t, addr, kgo.MaxVersions(versions))
}

// commitOffsets sends TxnOffsetCommit with cl and returns the error code
// of partition 0 of topic.
func (x *rawTxn) commitOffsets(cl *kgo.Client, group, topic string, offset int64) int16 {
	x.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = x.id, group, x.pid, x.epoch
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(x.t), cl)
	if err != nil {
		x.t.Fatalf("TxnOffsetCommit: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// end ends the transaction and waits until its markers are written (EndTxn
// answers once the decision is durable, before them, as in Kafka).
func (x *rawTxn) end(commit bool) {
	x.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, x.pid, x.epoch, commit
	resp, err := req.RequestWith(testContext(x.t), x.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		x.t.Fatalf("EndTxn commit=%v: %v", commit, err)
	}
	state := "CompleteAbort"
	if commit {
		state = "CompleteCommit"
	}
	describeTxn(x.t, kadm.NewClient(x.cl), x.id, state)
}

// fetchOffset is the group's offset of topic-0 by OffsetFetch v7, with
// RequireStable as asked, and the partition's error code.
func fetchOffset(t *testing.T, cl *kgo.Client, group, topic string, stable bool) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, group, stable
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	resp, err := req.RequestWith(testContext(t), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTxnOffsetCommit checks transactional offset commits by hand, at the
// oldest and newest versions served: invisible (and unstable) until the
// commit, dropped by an abort, refused when the group was not added to
// the transaction or the producer is fenced, and a pending commit that
// a restart replays is completed by the marker after it.
func TestTxnOffsetCommit(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, txnSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	const topic, group = "in", "eos"
	createTopic(t, adm, topic, 1, nil)
	cl := txnV1Client(t, tn.KafkaAddr(), 4)

	for _, v := range []int16{0, 4} {
		x := initRawTxn(t, cl, "tx-offsets")
		x.addOffsets(group)
		want := int64(10 * (v + 1))
		if code := x.commitOffsets(txnV1Client(t, tn.KafkaAddr(), v), group, topic, want); code != 0 {
			t.Fatalf("TxnOffsetCommit v%d: %v", v, kerr.ErrorForCode(code))
		}
		if _, code := fetchOffset(t, cl, group, topic, true); code != kerr.UnstableOffsetCommit.Code {
			t.Errorf("v%d: stable fetch during the transaction: %v, want UNSTABLE_OFFSET_COMMIT", v, kerr.ErrorForCode(code))
		}
		if off, _ := fetchOffset(t, cl, group, topic, false); off == want {
			t.Errorf("v%d: offset %d visible before the commit", v, off)
		}
		x.end(true)
		if off, code := fetchOffset(t, cl, group, topic, true); off != want || code != 0 {
			t.Errorf("v%d: after the commit offset %d (%v), want %d", v, off, kerr.ErrorForCode(code), want)
		}
	}

	x := initRawTxn(t, cl, "tx-offsets")
	x.addOffsets(group)
	if code := x.commitOffsets(cl, group, topic, 99); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	x.end(false)
	if off, _ := fetchOffset(t, cl, group, topic, true); off != 50 {
		t.Errorf("after an abort offset %d, want 50", off)
	}

	// Not added: the next transaction has not called AddOffsetsToTxn.
	if code := x.commitOffsets(cl, group, topic, 50); code != kerr.InvalidTxnState.Code {
		t.Errorf("commit without AddOffsetsToTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	// Fenced: a new producer of the id bumps the epoch.
	x.addOffsets(group)
	zombie := *x
	x = initRawTxn(t, cl, "tx-offsets")
	if code := zombie.commitOffsets(cl, group, topic, 60); code != kerr.InvalidProducerEpoch.Code && code != kerr.ProducerFenced.Code {
		t.Errorf("commit by a fenced producer: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}

	// Pending across a restart: the replay finds the transactional
	// batch, and the commit after it makes the offset visible.
	x.addOffsets(group)
	if code := x.commitOffsets(cl, group, topic, 70); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	tn.stop(t)
	tn = startNode(t, dir, txnSettings)
	cl = txnV1Client(t, tn.KafkaAddr(), 4)
	x.cl = cl
	if _, code := fetchOffset(t, cl, group, topic, true); code != kerr.UnstableOffsetCommit.Code {
		t.Errorf("stable fetch of a pending offset after a restart: %v, want UNSTABLE_OFFSET_COMMIT", kerr.ErrorForCode(code))
	}
	x.end(true)
	if off, code := fetchOffset(t, cl, group, topic, true); off != 70 || code != 0 {
		t.Errorf("after the restart and commit offset %d (%v), want 70", off, kerr.ErrorForCode(code))
	}
}
