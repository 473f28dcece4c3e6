package node_test

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestLargeRequestNotStalledByLongPoll produces a 900 kB record, whose
// worst-case decoding reserves a large share of the decode pool, while a
// fetch long-polls for 30 s: the produce must not wait for the poll.
func TestLargeRequestNotStalledByLongPoll(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "quiet", 1, nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "big", 1, nil)
	req := longPollFetch("quiet", 30000)
	polled := make(chan error, 1)
	go func() {
		resp, err := req.RequestWith(testContext(t), fetchV12Client(t, tn.KafkaAddr()))
		if err == nil {
			err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
		}
		polled <- err
	}()
	waitFor(t, "the long poll to be in flight", func() bool { _, decoded := tn.RequestMemory(); return len(polled) == 0 && decoded > 0 })
	value := bytes.Repeat([]byte("x"), 900<<10)
	cl := newClient(t, tn.KafkaAddr(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "big", Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-polled:
		t.Fatalf("the produce waited for the 30 s long poll to end (%v)", err)
	default:
	}
}

// fetchV12Client caps Fetch at v12, the last version that names topics.
func fetchV12Client(t *testing.T, addr string) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return newClient(t, addr, kgo.MaxVersions(v))
}

// longPollFetch is a Fetch v12 (topics by name) of partition 0 of topic
// from offset 0 that waits up to waitMs for a byte to arrive.
func longPollFetch(topic string, waitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = waitMs, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}
