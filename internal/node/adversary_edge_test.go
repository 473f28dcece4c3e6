package node_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// TestAdversaryEdge covers what an attacker or an unlucky operator does
// at the edges: internal topics, names at the limits, deleting what is in
// use, clocks that jump, extreme offsets and sizes, files an operator
// deleted. Each case ends with the node healthy and no handler panicked.
func TestAdversaryEdge(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"internal-topic-writes", edgeInternalTopicWrites},
		{"internal-topic-grow", edgeInternalTopicGrow},
		{"topic-names", edgeTopicNames},
		{"delete-while-busy", edgeDeleteWhileBusy},
		{"timestamps", edgeTimestamps},
		{"extreme-offsets", edgeExtremeOffsets},
		{"fetch-sizes", edgeFetchSizes},
		{"group-limits", edgeGroupLimits},
		{"duplicate-entries", edgeDuplicateEntries},
		{"group-extremes", edgeGroupExtremes},
		{"many-groups", edgeManyGroups},
		{"tiny-segments-fd-limit", edgeTinySegmentsFDLimit},
		{"producer-ids-deleted", edgeProducerIDsDeleted},
		{"meta-state-deleted", edgeMetaStateDeleted},
	} {
		t.Run(c.name, c.run)
	}
}

// noPanics fails the test for every "handler panicked" in tn's log.
func noPanics(t *testing.T, tn *testNode) {
	t.Helper()
	for _, l := range panicLines(tn.logs.String()) {
		t.Errorf("a handler panicked (recovered, still a bug): %s", clip(l, 3000))
	}
}

// edgeInternalTopicWrites: clients may not produce to, delete or delete
// records of __consumer_offsets (Kafka: INVALID_TOPIC_EXCEPTION, or a
// refusal); a poison record there would be read back by the group
// coordinator at every start.
func edgeInternalTopicWrites(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	h := newHealth(t, tn)
	adm := newAdmin(t, tn.KafkaAddr())
	commitOne(t, adm, "g", "adv-health", 7)
	cl := rawClient(t, tn.KafkaAddr())
	garbage := record.Build(time.Now().UnixMilli(), []record.Record{{Key: []byte{0, 9, 0xff}, Value: []byte("poison")}})
	if p := rawProduce(t, cl, "__consumer_offsets", garbage); p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(p.ErrorCode))
	}
	if res, err := adm.DeleteTopics(testContext(t), "__consumer_offsets"); err != nil || res["__consumer_offsets"].Err == nil {
		t.Errorf("deleting __consumer_offsets was not refused: %v %v", err, res["__consumer_offsets"].Err)
	}
	h.check(t, "writes to the internal topic")
	restarted := restart(t, tn)
	if got := fetchCommitted(t, newAdmin(t, restarted.KafkaAddr()), "g", "adv-health"); got != 7 {
		t.Errorf("after restart group g's commit is %d, want 7", got)
	}
	noPanics(t, restarted)
}

// restart stops tn and starts a node on its directory.
func restart(t *testing.T, tn *testNode) *testNode {
	t.Helper()
	dir := tn.dir
	tn.stop(t)
	return startNode(t, dir, corpusSettings)
}

func commitOne(t *testing.T, adm *kadm.Client, group, topic string, off int64) {
	t.Helper()
	var offs kadm.Offsets
	offs.AddOffset(topic, 0, off, -1)
	resp, err := adm.CommitOffsets(testContext(t), group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("committing %d for %s: %v", off, group, err)
	}
}

func fetchCommitted(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(testContext(t), group)
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	o, ok := resp.Lookup(topic, 0)
	if !ok {
		return -1
	}
	if o.Err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, o.Err)
	}
	return o.At
}

// edgeInternalTopicGrow: CreatePartitions on __consumer_offsets. Groups are
// placed by hash(group) % partitions, so growing it silently moves groups
// away from their committed offsets (and a coordinator table sized at start
// may be indexed past its end). Either the growth is refused, or every
// group's commit is still found, before and after a restart.
func edgeInternalTopicGrow(t *testing.T) {
	settings := map[string]string{"offsets.topic.num.partitions": "3"}
	tn := startNode(t, "", settings)
	h := newHealth(t, tn)
	adm := newAdmin(t, tn.KafkaAddr())
	const groups = 30
	for i := range groups {
		commitOne(t, adm, fmt.Sprintf("grow-%d", i), "adv-health", int64(100+i))
	}
	res, err := adm.CreatePartitions(testContext(t), 4, "__consumer_offsets")
	if err == nil {
		err = res["__consumer_offsets"].Err
	}
	t.Logf("growing __consumer_offsets from 3 to 7 partitions: %v", err)
	check := func(adm *kadm.Client, when string) {
		lost := 0
		for i := range groups {
			if got := fetchCommitted(t, adm, fmt.Sprintf("grow-%d", i), "adv-health"); got != int64(100+i) {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("%s: %d of %d groups lost their committed offset", when, lost, groups)
		}
	}
	check(adm, "after growing __consumer_offsets")
	for i := range groups { // new commits land wherever groups now live
		commitOne(t, adm, fmt.Sprintf("grow-new-%d", i), "adv-health", 1)
	}
	h.check(t, "growing __consumer_offsets")
	dir := tn.dir
	tn.stop(t)
	again := startNode(t, dir, settings)
	check(newAdmin(t, again.KafkaAddr()), "after restart")
	noPanics(t, again)
}

// edgeTopicNames: names at and past Kafka's limits. 249 characters is the
// longest legal name and must work end to end (create, produce, consume,
// delete, recreate, restart); 250, "", ".", "..", "a/b" and non-ASCII
// names are INVALID_TOPIC_EXCEPTION; "a.b" next to an existing "a_b"
// collides (metric names cannot tell them apart), as in Kafka.
func edgeTopicNames(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	long := strings.Repeat("x", 249)
	createTopic(t, adm, long, 3, nil)
	cl := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic(long))
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: []byte("long")}).FirstErr(); err != nil {
		t.Fatalf("produce to a 249-character topic: %v", err)
	}
	consumeAll(t, tn.KafkaAddr(), long, 1)
	for _, name := range []string{strings.Repeat("y", 250), "", ".", "..", "a/b", "tópico", "emoji-\U0001F600", "nul\x00", "sp ace"} {
		res, err := adm.CreateTopic(testContext(t), 1, 1, nil, name)
		if err == nil {
			err = res.Err
		}
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("creating topic %q: %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
	createTopic(t, adm, "a_b", 1, nil)
	res, err := adm.CreateTopic(testContext(t), 1, 1, nil, "a.b")
	if err == nil {
		err = res.Err
	}
	if !errors.Is(err, kerr.InvalidTopicException) && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("creating a.b next to a_b: %v, want a collision error", err)
	}
	if _, err := adm.DeleteTopics(testContext(t), long); err != nil {
		t.Fatal(err)
	}
	createTopicEventually(t, adm, long, 1)
	again := restart(t, tn)
	h := newHealth(t, again)
	h.check(t, "topic names at the limits")
	noPanics(t, again)
}

// createTopicEventually creates a topic, retrying while a deletion of the
// same name finishes.
func createTopicEventually(t *testing.T, adm *kadm.Client, name string, partitions int32) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var res kadm.CreateTopicResponse
		res, err = adm.CreateTopic(testContext(t), partitions, 1, nil, name)
		if err == nil {
			err = res.Err
		}
		if err == nil {
			return
		}
	}
	t.Fatalf("recreating %s: %v", clip(name, 20), err)
}

// edgeDeleteWhileBusy deletes a topic while a producer, a consumer and a
// long-polling raw fetch use it, then recreates it under the same name: the
// node stays healthy, and a consumer of the new topic never sees a record
// of the old one.
func edgeDeleteWhileBusy(t *testing.T) {
	tn := startNode(t, "", nil)
	h := newHealth(t, tn)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "busy", 4, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	prod := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("busy"), kgo.RecordRetries(3), kgo.AllowAutoTopicCreation())
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("old-%d", i))}, nil)
			time.Sleep(time.Millisecond) // a steady trickle, not a flood
		}
	}()
	cons := newClient(t, tn.KafkaAddr(), kgo.ConsumeTopics("busy"))
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			cons.PollFetches(ctx)
		}
	}()
	poll, _ := dialRaw(tn.KafkaAddr())
	defer poll.Close()
	poll.Write(fetchFrame("busy", 5000, 1<<30, 1))
	waitFor(t, "records in busy", func() bool { return endOffsetSum(t, adm, "busy") > 200 })
	if _, err := adm.DeleteTopics(testContext(t), "busy"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the clients run into the deletion
	cancel()
	wg.Wait()
	prod.Close()
	cons.Close()
	// The producer allows auto-creation, so "busy" may exist again with
	// its late records; delete it for a clean start.
	adm.DeleteTopics(testContext(t), "busy")
	createTopicEventually(t, adm, "busy", 1)
	fresh := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("busy"))
	if err := fresh.ProduceSync(testContext(t), &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range consumeAll(t, tn.KafkaAddr(), "busy", 1) {
		if string(r.Value) != "new" {
			t.Errorf("recreated topic serves %q at offset %d, a record of the deleted one", r.Value, r.Offset)
		}
	}
	poll.Close()
	h.check(t, "deleting a busy topic")
}

func endOffsetSum(t *testing.T, adm *kadm.Client, topic string) int64 {
	ends, err := adm.ListEndOffsets(testContext(t), topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// edgeTimestamps produces batches stamped far in the future, at zero, at
// -1 (no timestamp) and far in the past, as producers with broken clocks
// do; the node must answer each (Kafka: accepted, or INVALID_TIMESTAMP),
// keep answering ListOffsets by time consistently before and after a
// restart, and stay healthy. A future timestamp must not make retention
// delete newer records, and a past one must not stall the log.
func edgeTimestamps(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "clock", 1, nil)
	cl := rawClient(t, tn.KafkaAddr())
	now := time.Now().UnixMilli()
	stamps := []int64{now, math.MaxInt64 / 2, 253402300799000 /* 9999-12-31 */, 0, -1, now - 1, math.MinInt64 + 1, now + 1}
	for _, ts := range stamps {
		p := rawProduce(t, cl, "clock", record.Build(ts, []record.Record{{Value: []byte(fmt.Sprint(ts))}}))
		t.Logf("batch stamped %d: %v (offset %d)", ts, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
		if p.ErrorCode != 0 && p.ErrorCode != kerr.InvalidTimestamp.Code {
			t.Errorf("batch stamped %d: %v, want success or INVALID_TIMESTAMP", ts, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	lookups := func(cl *kgo.Client) []int64 {
		var out []int64
		for _, ts := range []int64{0, now, now + 1, math.MaxInt64 / 2, math.MaxInt64, -3} {
			out = append(out, listOffsetAny(t, cl, "clock", ts))
		}
		return out
	}
	before := lookups(cl)
	end := listOffset(t, cl, "clock", -1)
	for i, o := range before {
		if o < -1 || o > end {
			t.Errorf("ListOffsets lookup %d answered offset %d outside [-1, %d]", i, o, end)
		}
	}
	again := restart(t, tn)
	cl2 := rawClient(t, again.KafkaAddr())
	if after := lookups(cl2); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("ListOffsets by time changed across a restart: %v, then %v", before, after)
	}
	newHealth(t, again).check(t, "timestamps at the extremes")
	noPanics(t, again)
}

// listOffsetAny is listOffset that returns -2 instead of failing on an
// error code, for lookups where Kafka answers with one.
func listOffsetAny(t *testing.T, cl *kgo.Client, topic string, ts int64) int64 {
	t.Helper()
	req := listOffsetsReq(9, fuzzTarget{topic: topic}).(*kmsg.ListOffsetsRequest)
	req.Topics[0].Partitions = req.Topics[0].Partitions[:1]
	req.Topics[0].Partitions[0].Timestamp = ts
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return -2
	}
	return p.Offset
}

// edgeExtremeOffsets sends max-int and negative offsets to Fetch,
// ListOffsets, DeleteRecords and OffsetCommit: each must get Kafka's error
// (OFFSET_OUT_OF_RANGE) or be stored exactly (commits, read back the same
// before and after a restart).
func edgeExtremeOffsets(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "edge", 1, nil)
	cl := rawClient(t, tn.KafkaAddr())
	fillTopic(t, tn.KafkaAddr(), "edge", 10, 10)
	for _, off := range []int64{math.MaxInt64, math.MaxInt64 - 1, 11, -1, -2, math.MinInt64} {
		if p := fetchAt(t, cl, "edge", off, 1<<20); p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch at %d: %v, want OFFSET_OUT_OF_RANGE", off, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	for _, off := range []int64{math.MaxInt64, 11, -2, math.MinInt64} {
		var del kadm.Offsets
		del.AddOffset("edge", 0, off, -1)
		res, err := adm.DeleteRecords(testContext(t), del)
		if err == nil {
			err = res.Error()
		}
		if !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Errorf("DeleteRecords to %d: %v, want OFFSET_OUT_OF_RANGE", off, err)
		}
	}
	if got := listOffset(t, cl, "edge", -2); got != 0 {
		t.Errorf("after refused DeleteRecords the log start is %d", got)
	}
	commits := []int64{math.MaxInt64, math.MinInt64, -2, 0}
	for i, off := range commits {
		commitOne(t, adm, fmt.Sprintf("edge-%d", i), "edge", off)
	}
	check := func(adm *kadm.Client, when string) {
		for i, off := range commits {
			if got := fetchCommitted(t, adm, fmt.Sprintf("edge-%d", i), "edge"); got != off {
				t.Errorf("%s: commit of %d read back as %d", when, off, got)
			}
		}
	}
	check(adm, "before restart")
	again := restart(t, tn)
	check(newAdmin(t, again.KafkaAddr()), "after restart")
	newHealth(t, again).check(t, "extreme offsets")
	noPanics(t, again)
}

// edgeFetchSizes sends Fetch with zero, negative and huge sizes and waits.
// Each is answered without a partition error; with a partition limit
// smaller than the first batch, Kafka still returns that batch (KIP-74) so
// a consumer makes progress.
func edgeFetchSizes(t *testing.T) {
	tn := startNode(t, "", nil)
	h := newHealth(t, tn)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "sizes", 1, nil)
	fillTopic(t, tn.KafkaAddr(), "sizes", 20, 500)
	cl := rawClient(t, tn.KafkaAddr())
	for _, c := range []struct {
		maxBytes, partMax, minBytes, maxWait int32
		progress                             bool
	}{
		{0, 1 << 20, 1, 0, true},
		{1 << 20, 0, 1, 0, true},
		{1 << 20, 1, 1, 0, true},
		{-1, -1, 1, 0, false},
		{math.MinInt32, math.MinInt32, math.MinInt32, math.MinInt32, false},
		{math.MaxInt32, math.MaxInt32, math.MaxInt32, 200, true},
		{1 << 20, 1 << 20, -1, -1, true},
	} {
		req := fetchReq(11, fuzzTarget{topic: "sizes"}).(*kmsg.FetchRequest)
		req.MaxBytes, req.MinBytes, req.MaxWaitMillis = c.maxBytes, c.minBytes, c.maxWait
		req.Topics[0].Partitions[0].PartitionMaxBytes = c.partMax
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err != nil {
			t.Errorf("fetch %+v: %v", c, err)
			continue
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Logf("fetch %+v: %v", c, kerr.ErrorForCode(p.ErrorCode))
			continue
		}
		if c.progress && len(p.RecordBatches) < record.HeaderSize {
			t.Errorf("fetch %+v returned no batch: a consumer with these limits never progresses (KIP-74)", c)
		}
	}
	h.check(t, "fetch sizes")
}

// edgeGroupLimits commits with metadata past offset.metadata.max.bytes
// (Kafka: OFFSET_METADATA_TOO_LARGE), with an empty group id and with a
// 64 KB group id, then restarts: the node
// must load its groups and keep the commits it accepted.
func edgeGroupLimits(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	cl := rawClient(t, tn.KafkaAddr())
	commit := func(group, metadata string) int16 {
		req := offsetCommitReq(8, fuzzTarget{topic: "adv-health", group: group}).(*kmsg.OffsetCommitRequest)
		req.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(metadata)
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	newHealth(t, tn)
	if code := commit("meta", strings.Repeat("m", 5000)); code != kerr.OffsetMetadataTooLarge.Code {
		t.Errorf("commit with 5000 bytes of metadata: %v, want OFFSET_METADATA_TOO_LARGE", kerr.ErrorForCode(code))
	}
	// Kafka's classic coordinator accepts commits for the empty group id
	// (backward compatibility), its new one answers INVALID_GROUP_ID.
	t.Logf("commit with an empty group id: %v", kerr.ErrorForCode(commit("", "")))
	long := strings.Repeat("g", 64<<10)
	if code := commit(long, "ok"); code != 0 {
		t.Logf("commit with a 64 KB group id: %v", kerr.ErrorForCode(code))
	}
	again := restart(t, tn)
	cl = rawClient(t, again.KafkaAddr())
	if code := commit(long, "ok"); code != 0 {
		t.Logf("after restart, commit with a 64 KB group id: %v", kerr.ErrorForCode(code))
	}
	newHealth(t, again).check(t, "group limits")
	noPanics(t, again)
}

// edgeTinySegmentsFDLimit: a topic with segment.bytes=14 (Kafka's minimum)
// rolls a segment per batch, three files each. Under a lowered fd limit,
// single-record batches ran the node out of descriptors: the log failed
// ("log write failed; refusing further appends") and stayed failed after
// descriptors were free again, and checkpoints of every partition failed.
// Item 2 (file handles opened lazily from a bounded cache) and item
// 7 (a log recovers from a transient error without a restart): once the
// limit is restored the topic must take writes again.
func edgeTinySegmentsFDLimit(t *testing.T) {
	tn := startNode(t, "", nil)
	h := newHealth(t, tn)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "tiny", 1, map[string]*string{"segment.bytes": ptr("14")})
	cl := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("tiny"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.MaxBufferedRecords(1), kgo.RecordRetries(1))
	restore := lowerFDLimit(t, 150)
	failed, start := 0, time.Now()
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			failed++
		}
		cancel()
		if failed > 3 {
			break
		}
	}
	restore()
	t.Logf("%d produces failed under the fd limit in %v; %d descriptors open", failed, time.Since(start), openFDs(t))
	h.check(t, "one-batch segments under a low fd limit")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Errorf("topic tiny takes no writes once descriptors are free again: %v", err)
	}
	noPanics(t, tn)
}

// edgeProducerIDsDeleted: an operator (or a bad restore) loses
// meta/producer-ids while the logs keep idempotent producer state. NEW
// finding: the node starts and hands out producer ids from 0 again, so a
// new producer gets the id of an old one, and its first batch (sequence 0)
// matching the old producer's last batch is answered as a duplicate and
// silently not written: an acknowledged write is lost. The node must
// either refuse to start or hand out ids above every id in the logs.
func edgeProducerIDsDeleted(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "idem", 1, nil)
	cl := rawClient(t, tn.KafkaAddr())
	pid, epoch := initProducerID(t, cl)
	old := advIdempotentBatch(time.Now().UnixMilli(), pid, epoch, 0, []record.Record{{Value: []byte("old")}})
	if p := rawProduce(t, cl, "idem", old); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	dir := tn.dir
	tn.stop(t)
	if err := os.Remove(filepath.Join(dir, "meta", "producer-ids")); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	again, err := startNodeErr(dir, logs)
	if err != nil {
		t.Logf("refused to start without producer-ids: %v", err)
		return
	}
	t.Cleanup(func() { again.stop(t) })
	cl2 := rawClient(t, again.KafkaAddr())
	pid2, epoch2 := initProducerID(t, cl2)
	batch := advIdempotentBatch(time.Now().UnixMilli(), pid2, epoch2, 0, []record.Record{{Value: []byte("new")}})
	p := rawProduce(t, cl2, "idem", batch)
	t.Logf("old producer id %d, new %d; new producer's first batch: %v at offset %d", pid, pid2, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	if p.ErrorCode != 0 {
		t.Errorf("a new idempotent producer's first batch failed: %v", kerr.ErrorForCode(p.ErrorCode))
		return
	}
	recs, _, _ := readRaw(t, cl2, "idem")
	if len(recs) != 2 || recs[1].value != "new" {
		t.Errorf("producer id %d reused after producer-ids was lost: the new producer's acknowledged batch was not written (log holds %+v)", pid2, recs)
	}
}

func initProducerID(t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testContext(t), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// edgeMetaStateDeleted: an operator loses meta/state (a bad restore, a
// wrong rm) but logs/ is intact. NEW finding: the node starts as a new
// cluster and deletes every topic's logs as unknown ("deleting logs of a
// topic the metadata does not know"), consumer offsets included. It must
// refuse to start instead, naming the missing file, and leave the logs.
func edgeMetaStateDeleted(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "precious", 1, nil)
	fillTopic(t, tn.KafkaAddr(), "precious", 10, 10)
	dir := tn.dir
	tn.stop(t)
	if err := os.Remove(filepath.Join(dir, "meta", "state")); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	again, err := startNodeErr(dir, logs)
	if err == nil {
		again.stop(t)
		t.Errorf("node started without meta/state although logs/ held data")
	} else {
		t.Logf("refused to start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "precious-0")); err != nil {
		t.Errorf("the logs of topic precious are gone after starting without meta/state: %v\nnode log:\n%s", err, logs.String())
	}
}

// edgeDuplicateEntries lists the same topic, partition or resource twice in
// one request, as a buggy client might. Kafka refuses duplicate topics in
// CreateTopics and CreatePartitions, and duplicate resources in the config
// APIs, with INVALID_REQUEST; duplicate partitions in Produce, Fetch,
// ListOffsets, OffsetCommit and DeleteRecords must not panic or corrupt
// the log. Afterwards the topics are whole and the node restarts cleanly.
func edgeDuplicateEntries(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "dup", 1, nil)
	cl := rawClient(t, tn.KafkaAddr())
	ctx := testContext(t)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.TimeoutMillis = 5000
	for range 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "twice", 2, 1
		ct.Topics = append(ct.Topics, rt)
	}
	if resp, err := ct.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		for _, rt := range resp.Topics {
			t.Logf("CreateTopics with %q twice: %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
		}
	}

	pr := produceReq(9, fuzzTarget{topic: "dup"}).(*kmsg.ProduceRequest)
	pr.Topics[0].Partitions = append(pr.Topics[0].Partitions, pr.Topics[0].Partitions[0])
	pr.Topics = append(pr.Topics, pr.Topics[0])
	if _, err := pr.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	fr := fetchReq(11, fuzzTarget{topic: "dup"}).(*kmsg.FetchRequest)
	fr.MaxWaitMillis = 0
	fr.Topics[0].Partitions = append(fr.Topics[0].Partitions, fr.Topics[0].Partitions[0])
	fr.Topics = append(fr.Topics, fr.Topics[0])
	if _, err := fr.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	lo := listOffsetsReq(7, fuzzTarget{topic: "dup"}).(*kmsg.ListOffsetsRequest)
	lo.Topics = append(lo.Topics, lo.Topics[0])
	if _, err := lo.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	oc := offsetCommitReq(8, fuzzTarget{topic: "dup", group: "dupg"}).(*kmsg.OffsetCommitRequest)
	oc.Topics[0].Partitions = append(oc.Topics[0].Partitions, oc.Topics[0].Partitions[0])
	oc.Topics[0].Partitions[1].Offset = 2
	if _, err := oc.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	dr := deleteRecordsReq(2, fuzzTarget{topic: "dup"}).(*kmsg.DeleteRecordsRequest)
	dr.Topics[0].Partitions = append(dr.Topics[0].Partitions, dr.Topics[0].Partitions[0])
	dr.Topics[0].Partitions[1].Offset = 1
	if _, err := dr.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	ia := incrementalAlterConfigsReq(1, fuzzTarget{topic: "dup"}).(*kmsg.IncrementalAlterConfigsRequest)
	ia.ValidateOnly = false
	ia.Resources = append(ia.Resources, ia.Resources[0])
	ia.Resources[1].Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: kmsg.StringPtr("7200000")}}
	if resp, err := ia.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range resp.Resources {
			t.Logf("IncrementalAlterConfigs with %q twice: %v", r.ResourceName, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	checkTopicsWhole(t, tn)
	again := restart(t, tn)
	checkTopicsWhole(t, again)
	newHealth(t, again).check(t, "duplicate entries")
	noPanics(t, tn)
	noPanics(t, again)
}

// edgeGroupExtremes sends group requests at the extremes: JoinGroup with
// session timeouts outside the broker's bounds (Kafka:
// INVALID_SESSION_TIMEOUT), a huge rebalance timeout, a thousand protocols;
// KIP-848 heartbeats with invalid and pathological regexes (Kafka:
// INVALID_REGULAR_EXPRESSION), negative and huge epochs and timeouts. Each
// is answered, nothing panics, and a real consumer group still works.
func edgeGroupExtremes(t *testing.T) {
	tn := startNode(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	h := newHealth(t, tn)
	cl := rawClient(t, tn.KafkaAddr())
	ctx := testContext(t)
	for _, st := range []int32{math.MaxInt32, 0, -1} {
		req := joinGroupReq(5, fuzzTarget{topic: "adv-health", group: "ext"}).(*kmsg.JoinGroupRequest)
		req.SessionTimeoutMillis = st
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.InvalidSessionTimeout.Code {
			t.Errorf("JoinGroup with session timeout %d: %v, want INVALID_SESSION_TIMEOUT", st, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	many := joinGroupReq(5, fuzzTarget{topic: "adv-health", group: "ext-many"}).(*kmsg.JoinGroupRequest)
	many.RebalanceTimeoutMillis = math.MaxInt32
	for i := range 1000 {
		p := many.Protocols[0]
		p.Name = fmt.Sprintf("proto-%d", i)
		many.Protocols = append(many.Protocols, p)
	}
	if _, err := many.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		regex   string
		epoch   int32
		timeout int32
	}{
		{"(", 0, 5000}, {"(a{1000}){1000}", 0, 5000}, {strings.Repeat("(", 5000), 0, 5000},
		{"adv-.*", math.MaxInt32, 5000}, {"adv-.*", -5, 5000}, {"adv-.*", 0, -1}, {"adv-.*", 0, math.MaxInt32},
	} {
		req := consumerGroupHeartbeatReq(1, fuzzTarget{topic: "adv-health", group: "ext"}).(*kmsg.ConsumerGroupHeartbeatRequest)
		req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, kmsg.StringPtr(c.regex)
		req.MemberEpoch, req.RebalanceTimeoutMillis = c.epoch, c.timeout
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("heartbeat %q: %v", clip(c.regex, 20), err)
		}
		t.Logf("ConsumerGroupHeartbeat regex %q epoch %d timeout %d: %v", clip(c.regex, 20), c.epoch, c.timeout, errName(resp.ErrorCode))
		if strings.HasPrefix(c.regex, "(") && resp.ErrorCode != kerr.InvalidRegularExpression.Code {
			t.Errorf("regex %q: %v, want INVALID_REGULAR_EXPRESSION", clip(c.regex, 20), errName(resp.ErrorCode))
		}
	}
	consumer := newClient(t, tn.KafkaAddr(), kgo.ConsumerGroup("ext-real"), kgo.ConsumeTopics("adv-health"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if fs := consumer.PollFetches(pctx); len(fs.Records()) == 0 {
		t.Errorf("a real group consumer got nothing after the extreme requests: %v", fs.Err())
	}
	h.check(t, "group extremes")
	noPanics(t, tn)
}

// edgeManyGroups commits once for each of 5,000 groups and measures the
// heap they cost; they must survive a restart. Kafka has no bound on the
// number of groups either, so the measurement is reported, with a generous
// bound of 10 KB a group.
func edgeManyGroups(t *testing.T) {
	tn := startNode(t, "", corpusSettings)
	newHealth(t, tn)
	cl := rawClient(t, tn.KafkaAddr())
	const groups = 5000
	hp := watchHeap()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req := offsetCommitReq(8, fuzzTarget{topic: "adv-health", group: fmt.Sprintf("many-%05d", i)}).(*kmsg.OffsetCommitRequest)
				if resp, err := req.RequestWith(context.Background(), cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					t.Errorf("commit for group %d: %v", i, err)
				}
			}
		}()
	}
	for i := range groups {
		work <- i
	}
	close(work)
	wg.Wait()
	assertGrowth(t, hp, fmt.Sprintf("%d groups with one commit each", groups), groups*10<<10)
	again := restart(t, tn)
	adm := newAdmin(t, again.KafkaAddr())
	for _, i := range []int{0, groups / 2, groups - 1} {
		if got := fetchCommitted(t, adm, fmt.Sprintf("many-%05d", i), "adv-health"); got != 1 {
			t.Errorf("after restart group %d's commit is %d, want 1", i, got)
		}
	}
	noPanics(t, again)
}
