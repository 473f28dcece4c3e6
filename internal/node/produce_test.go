package node_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestProduceConsumeRoundTrip sends keyed records with headers and
// producer timestamps through every codec and acks level, then reads them
// back and compares every field.
func TestProduceConsumeRoundTrip(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	acks := map[string][]kgo.Opt{
		"all": {kgo.RequiredAcks(kgo.AllISRAcks())},
		"1":   {kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()},
		"0":   {kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()},
	}
	for codecName, codec := range codecs {
		for acksName, ackOpts := range acks {
			t.Run(codecName+"/acks="+acksName, func(t *testing.T) {
				topic := fmt.Sprintf("rt-%s-%s", codecName, acksName)
				createTopic(t, adm, topic, 3, nil)
				opts := append([]kgo.Opt{kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic)}, ackOpts...)
				want := produceNumbered(t, newClient(t, tn.KafkaAddr(), opts...), topic, 300)
				got := consumeAll(t, tn.KafkaAddr(), topic, len(want))
				checkSameRecords(t, want, got)
			})
		}
	}
}

// produceNumbered produces n keyed records with two headers and a
// distinct producer timestamp each, waiting for every acknowledgement.
func produceNumbered(t *testing.T, cl *kgo.Client, topic string, n int) []*kgo.Record {
	t.Helper()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("key-%d", i%17)),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%200),
			Headers:   []kgo.RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}, {Key: "empty"}},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		})
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	return recs
}

// checkSameRecords compares by the "n" header, which numbers the records.
func checkSameRecords(t *testing.T, want, got []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	byN := map[string]*kgo.Record{}
	for _, r := range got {
		n := string(r.Headers[0].Value)
		if byN[n] != nil {
			t.Fatalf("record %s consumed twice", n)
		}
		byN[n] = r
	}
	for _, w := range want {
		g := byN[string(w.Headers[0].Value)]
		switch {
		case g == nil:
			t.Fatalf("record %s missing", w.Headers[0].Value)
		case !bytes.Equal(g.Key, w.Key), !bytes.Equal(g.Value, w.Value):
			t.Fatalf("record %s: got key %q value %q, want %q %q", w.Headers[0].Value, g.Key, g.Value, w.Key, w.Value)
		case len(g.Headers) != 2 || g.Headers[1].Key != "empty" || len(g.Headers[1].Value) != 0:
			t.Fatalf("record %s: headers %v", w.Headers[0].Value, g.Headers)
		case !g.Timestamp.Equal(w.Timestamp):
			t.Fatalf("record %s: timestamp %v, want %v", w.Headers[0].Value, g.Timestamp, w.Timestamp)
		}
	}
	// Within a partition, offsets must follow production order.
	last := map[int32]int64{}
	for _, r := range got {
		if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
		}
		last[r.Partition] = r.Offset
	}
}

// TestLogAppendTime checks that a LogAppendTime topic stamps the broker's
// clock over the producer's.
func TestLogAppendTime(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "lat", 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
	before := time.Now().Add(-time.Second)
	cl := newClient(t, tn.KafkaAddr())
	old := time.Unix(1000, 0)
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "lat", Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeAll(t, tn.KafkaAddr(), "lat", 1)
	if got[0].Timestamp.Before(before) || got[0].Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp %v type %d, want the broker's append time", got[0].Timestamp, got[0].Attrs.TimestampType())
	}
}

// TestAutoTopicCreation checks auto.create.topics.enable both ways.
func TestAutoTopicCreation(t *testing.T) {
	tn := startNode(t, "", map[string]string{"num.partitions": "4"})
	cl := newClient(t, tn.KafkaAddr(), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("producing to a new topic: %v", err)
	}
	td, err := newAdmin(t, tn.KafkaAddr()).ListTopics(testContext(t), "auto")
	if err != nil || len(td["auto"].Partitions) != 4 {
		t.Fatalf("auto-created topic: %v %+v", err, td["auto"])
	}

	off := startNode(t, "", map[string]string{"auto.create.topics.enable": "false"})
	cl = newClient(t, off.KafkaAddr(), kgo.AllowAutoTopicCreation(), kgo.RecordRetries(2))
	err = cl.ProduceSync(testContext(t), &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produced to a missing topic with auto creation disabled")
	}
}

// TestLongPoll checks that a waiting fetch returns as soon as data arrives
// rather than failing or returning empty: the consumer starts first.
func TestLongPoll(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "lp", 1, nil)
	done := make(chan []*kgo.Record, 1)
	go func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(tn.KafkaAddr()), kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(5*time.Second))
		if err != nil {
			done <- nil
			return
		}
		defer cl.Close()
		ctx := testContext(t)
		var recs []*kgo.Record
		for len(recs) == 0 && ctx.Err() == nil {
			recs = append(recs, cl.PollFetches(ctx).Records()...)
		}
		done <- recs
	}()
	time.Sleep(200 * time.Millisecond) // let the consumer park in a long poll
	cl := newClient(t, tn.KafkaAddr())
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "lp", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if recs := <-done; len(recs) != 1 || string(recs[0].Value) != "wake" {
		t.Fatalf("long-polling consumer got %v", recs)
	}
}

// TestReadCommittedWithoutTransactions: with no transaction in a log its
// last stable offset is its high watermark, so a read_committed consumer
// reads everything a read_uncommitted one does, and a read_committed
// Fetch answers an empty (not null) aborted transactions list.
func TestReadCommittedWithoutTransactions(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "committed", 1, nil)
	prod := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("committed"))
	for i := range 20 {
		if err := prod.ProduceSync(testContext(t), &kgo.Record{Value: fmt.Appendf(nil, "c%02d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := consumeAll(t, tn.KafkaAddr(), "committed", 20, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for i, r := range got {
		if want := fmt.Sprintf("c%02d", i); string(r.Value) != want {
			t.Fatalf("record %d is %s, want %s", i, r.Value, want)
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.IsolationLevel, req.MaxBytes, req.MaxWaitMillis = 1, 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "committed"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), namedTopicsFetchClient(t, tn.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 20 || p.LastStableOffset != 20 || p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 {
		t.Errorf("read_committed fetch: error %d, high watermark %d, last stable offset %d, aborted %v; want 20, 20 and an empty list",
			p.ErrorCode, p.HighWatermark, p.LastStableOffset, p.AbortedTransactions)
	}
}

// namedTopicsFetchClient asks Fetch below v13, which names topics.
func namedTopicsFetchClient(t *testing.T, addr string) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return newClient(t, addr, kgo.MaxVersions(v))
}
