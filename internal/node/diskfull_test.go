//go:build linux

package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// mountTmpfs mounts a tmpfs of the given size (mount's syntax, e.g. "8m")
// on a new temp dir, unmounted when the test ends. Mounting needs root:
// without it the test fails, unless EDDY_TEST_NO_MOUNT=1 says to skip it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	if errors.Is(err, syscall.EPERM) {
		if os.Getenv("EDDY_TEST_NO_MOUNT") == "1" {
			t.Skip("EDDY_TEST_NO_MOUNT=1: skipping a test that needs root to mount a small tmpfs")
		}
		t.Fatalf("mounting a %s tmpfs needs root (%v): run the tests as root, or set EDDY_TEST_NO_MOUNT=1 to skip this test", size, err)
	}
	if err != nil {
		t.Fatalf("mounting a %s tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestDiskFull fills a node's data directory, a real 8 MiB tmpfs, through
// produce requests until the disk is full. Then: produce answers
// KAFKA_STORAGE_ERROR saying "no space left on device"; CreateTopics
// answers a clean error or succeeds; DeleteRecords and DeleteTopics
// succeed and free space; and a producer that kept retrying through all of
// it lands its records, with no restart.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	tn := startNode(t, dir, nil)
	addr := tn.KafkaAddr()
	adm := newAdmin(t, addr)
	small := map[string]*string{"segment.bytes": ptr("262144"), "file.delete.delay.ms": ptr("0")}
	createTopic(t, adm, "victim", 1, small)
	createTopic(t, adm, "full", partitions, small)
	prod := newClient(t, addr, kgo.DefaultProduceTopic("full"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testContext(t)
	if err := prod.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatalf("produce before the disk is full: %v", err)
	}

	raw := namedTopicsClient(t, addr)
	for range 16 {
		if got := produceTo(t, raw, "victim", 0, 64, 1000); got.ErrorCode != 0 {
			t.Fatalf("produce to victim: %v", kerr.ErrorForCode(got.ErrorCode))
		}
	}
	full := fillDisk(t, raw, "full", 0, 64, 1000)
	fillGap(t, raw, 1, 2)
	if err := kerr.ErrorForCode(full.ErrorCode); err != kerr.KafkaStorageError || full.ErrorMessage == nil || *full.ErrorMessage != "no space left on device" {
		t.Fatalf("produce on a full disk: %v %v, want KAFKA_STORAGE_ERROR \"no space left on device\"", err, full.ErrorMessage)
	}
	ends := map[int32]int64{0: endOffset(t, adm, "full", 0)}

	// A producer that keeps retrying until space is freed.
	landed := make(chan error, 1)
	go func() {
		landed <- prod.ProduceSync(ctx, kgo.StringRecord("after-1"), kgo.StringRecord("after-2")).FirstErr()
	}()

	createWhileFull(t, adm)
	fillGap(t, raw, 3, 4) // whatever the creation left
	dt, err := adm.DeleteTopics(ctx, "victim")
	if err == nil {
		err = dt.Error()
	}
	if err != nil {
		t.Fatalf("DeleteTopics on a full disk: %v", err)
	}
	waitFor(t, "the deleted topic's space", func() bool { return freeBytes(t, dir) >= 1<<20 })
	fillDisk(t, raw, "full", 5, 64, 1000)
	fillGap(t, raw, 6, 7)
	for p := range int32(partitions) {
		if p != 0 {
			ends[p] = endOffset(t, adm, "full", p)
		}
	}
	deleteRecords(t, adm, "full", ends)
	waitFor(t, "the deleted records' space", func() bool { return freeBytes(t, dir) > 4<<20 })

	createTopic(t, adm, "later", 1, nil)
	if fi, err := os.Stat(filepath.Join(dir, "meta", "reserve")); err != nil || fi.Size() < 1<<20 {
		t.Errorf("reserve after space was freed: %v %v, want it refilled to 1 MiB", fi, err)
	}
	if err := <-landed; err != nil {
		t.Fatalf("retrying producer: %v", err)
	}
	if err := prod.ProduceSync(ctx, kgo.StringRecord("after-3")).FirstErr(); err != nil {
		t.Fatalf("produce after space was freed: %v", err)
	}
	var got []string
	for _, r := range consumeAll(t, addr, "full", 3) {
		got = append(got, string(r.Value))
	}
	if strings.Join(got, ",") != "after-1,after-2,after-3" {
		t.Fatalf("consumed %v after DeleteRecords, want the records produced since", got)
	}
}

// partitions of the topic that fills the disk: each of its partitions
// fills the disk once, as a failed write refuses that partition's appends
// for a while.
const partitions = 8

// fillGap fills the space left on a nearly full disk to the last page: a
// failed write is cut back, freeing what it took, so smaller and smaller
// batches fill what the previous ones left.
func fillGap(t *testing.T, cl *kgo.Client, p1, p2 int32) {
	t.Helper()
	fillDisk(t, cl, "full", p1, 4, 1000)
	fillDisk(t, cl, "full", p2, 1, 100)
}

// produceTo appends one batch of n records of size bytes to a partition
// and returns the answer.
func produceTo(t *testing.T, cl *kgo.Client, topic string, partition int32, n, size int) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, recordtest.Batch(recordtest.Options{}, recordtest.Values(n, size))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// fillDisk produces batches to a partition until the answer is an error,
// which it returns.
func fillDisk(t *testing.T, cl *kgo.Client, topic string, partition int32, n, size int) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	for range (8 << 20) / (n * size) {
		if got := produceTo(t, cl, topic, partition, n, size); got.ErrorCode != 0 {
			return got
		}
	}
	t.Fatal("the 8 MiB disk never filled")
	return kmsg.ProduceResponseTopicPartition{}
}

// createWhileFull creates a topic on the full disk: it either succeeds or
// answers KAFKA_STORAGE_ERROR and leaves no topic behind.
func createWhileFull(t *testing.T, adm *kadm.Client) {
	t.Helper()
	ctx := testContext(t)
	// CreateTopics (not CreateTopic, which returns the topic's error as
	// err): a request-level error is a failure, a topic error is judged.
	all, err := adm.CreateTopics(ctx, 1, 1, nil, "whilefull")
	if err != nil {
		t.Fatalf("CreateTopics on a full disk: %v", err)
	}
	resp := all["whilefull"]
	if resp.Err == nil {
		return
	}
	if !errors.Is(resp.Err, kerr.KafkaStorageError) {
		t.Fatalf("CreateTopics on a full disk: %v (%s), want success or KAFKA_STORAGE_ERROR", resp.Err, resp.ErrMessage)
	}
	td, err := adm.ListTopics(ctx, "whilefull")
	if err != nil {
		t.Fatal(err)
	}
	if td.Has("whilefull") && td["whilefull"].Err == nil {
		t.Fatalf("CreateTopics answered %v but the topic exists", resp.Err)
	}
}

func endOffset(t *testing.T, adm *kadm.Client, topic string, partition int32) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, partition)
	return end.Offset
}

// deleteRecords deletes topic's partitions up to the given offsets.
func deleteRecords(t *testing.T, adm *kadm.Client, topic string, ends map[int32]int64) {
	t.Helper()
	offsets := kadm.Offsets{}
	for p, end := range ends {
		offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: end})
	}
	res, err := adm.DeleteRecords(testContext(t), offsets)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords on a full disk: %v", err)
	}
	for p, end := range ends {
		if lw := res[topic][p].LowWatermark; lw != end {
			t.Fatalf("low watermark of partition %d is %d after DeleteRecords, want %d", p, lw, end)
		}
	}
}

// TestDiskFullRestart restarts a node whose disk is full: it must start,
// and DeleteRecords must then free space so that produce works again.
func TestDiskFullRestart(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	tn := startNode(t, dir, nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "full", partitions, map[string]*string{"segment.bytes": ptr("262144"), "file.delete.delay.ms": ptr("0")})
	raw := namedTopicsClient(t, tn.KafkaAddr())
	fillDisk(t, raw, "full", 0, 64, 1000)
	fillGap(t, raw, 1, 2)
	if err := tn.Node.Close(); err != nil {
		t.Logf("closing on a full disk: %v", err) // the clean-shutdown files may not fit
	}
	tn.Node = nil

	tn = startNode(t, dir, nil)
	adm = newAdmin(t, tn.KafkaAddr())
	ends := map[int32]int64{}
	for p := range int32(3) {
		ends[p] = endOffset(t, adm, "full", p)
	}
	deleteRecords(t, adm, "full", ends)
	waitFor(t, "the deleted records' space", func() bool { return freeBytes(t, dir) > 4<<20 })
	raw = namedTopicsClient(t, tn.KafkaAddr())
	waitFor(t, "produce to succeed", func() bool { return produceTo(t, raw, "full", 0, 1, 10).ErrorCode == 0 })
}
