package node_test

import (
	"context"
	"errors"
	"fmt"
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
)

// lowFDLimit is the open-file limit the child brokers of these tests run
// under: far below the three files per partition that 10,000 partitions
// (or 400 topics) would need if each kept its files open.
const lowFDLimit = 512

// startLimitedChild starts eddy serve on dir under `ulimit -n nofile`,
// listening on addr, and waits (longer than a plain child: a start with
// 10,000 logs takes a while on a loaded machine) until it accepts
// connections.
func startLimitedChild(t *testing.T, dir, addr string, nofile int, args ...string) *childBroker {
	t.Helper()
	return runChild(t, addr, limitedCommand(nofile, eddyBinary(t), serveArgs(dir, addr, args...)...), 3*time.Minute)
}

// childFDs counts the descriptors the child broker has open.
func childFDs(t *testing.T, cb *childBroker) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cb.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("counting the child's descriptors: %v", err)
	}
	return len(ents)
}

// slowAdmin is an admin client that waits for slow answers: creating
// 10,000 partitions takes many seconds on a busy disk.
func slowAdmin(t *testing.T, addr string) *kadm.Client {
	adm := kadm.NewClient(newClient(t, addr, kgo.RequestTimeoutOverhead(4*time.Minute)))
	adm.SetTimeoutMillis(int32((4 * time.Minute).Milliseconds()))
	return adm
}

func longContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestTenThousandPartitionsUnderLowFDLimit creates a topic of 10,000
// partitions on a node limited to 512 open files: over max.broker.partitions
// it is refused cleanly with nothing left behind; within it, it is created,
// serves produce and fetch on a sample of partitions, and after kill -9 the
// node starts again under the same limit and still serves them.
func TestTenThousandPartitionsUnderLowFDLimit(t *testing.T) {
	const parts = 10000
	dir, addr := t.TempDir(), freeAddr(t)
	// __consumer_offsets holds 50 partitions: one short of room.
	cb := startLimitedChild(t, dir, addr, lowFDLimit, "--set", fmt.Sprintf("max.broker.partitions=%d", parts+49))
	resp, err := slowAdmin(t, addr).CreateTopic(longContext(t), parts, 1, nil, "big")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.PolicyViolation) || !strings.Contains(resp.ErrMessage, "max.broker.partitions") {
		t.Fatalf("creating %d partitions over the node's limit: %v (%q), want POLICY_VIOLATION naming max.broker.partitions", parts, err, resp.ErrMessage)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "logs", "big-*")); len(leftovers) > 0 {
		t.Fatalf("refused creation left %d log directories", len(leftovers))
	}
	cb.kill()

	cb = startLimitedChild(t, dir, addr, lowFDLimit)
	adm := slowAdmin(t, addr)
	if resp, err = adm.CreateTopic(longContext(t), parts, 1, nil, "big"); err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %d partitions under ulimit -n %d: %v", parts, lowFDLimit, err)
	}
	sample := []int32{0, 1, 4999, parts - 1}
	for p := int32(7); p < parts; p += 997 {
		sample = append(sample, p)
	}
	want := produceSample(t, addr, "big", sample, "first")
	checkSample(t, addr, "big", sample, want)
	t.Logf("descriptors of a node with %d partitions, idle: %d", parts+50, childFDs(t, cb))
	if n := childFDs(t, cb); n >= lowFDLimit {
		t.Fatalf("idle node holds %d descriptors, limit %d", n, lowFDLimit)
	}

	cb.kill()
	cb = startLimitedChild(t, dir, addr, lowFDLimit)
	t.Logf("descriptors of the node restarted after kill -9, idle: %d", childFDs(t, cb))
	checkSample(t, addr, "big", sample, want)
	more := produceSample(t, addr, "big", sample, "second")
	for p, recs := range more {
		want[p] = append(want[p], recs...)
	}
	checkSample(t, addr, "big", sample, want)
	measureUnderProduce(t, cb, "big", 100)
}

// produceSample produces two records to each partition of the sample at
// acks=all and returns the values by partition.
func produceSample(t *testing.T, addr, topic string, sample []int32, tag string) map[int32][]string {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[int32][]string{}
	var recs []*kgo.Record
	for _, p := range sample {
		for i := range 2 {
			v := fmt.Sprintf("%s-%d-%d", tag, p, i)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
			want[p] = append(want[p], v)
		}
	}
	if err := cl.ProduceSync(longContext(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing to the sample: %v", err)
	}
	return want
}

// checkSample consumes the sample partitions from the start and compares.
func checkSample(t *testing.T, addr, topic string, sample []int32, want map[int32][]string) {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	total := 0
	for _, p := range sample {
		offsets[p] = kgo.NewOffset().AtStart()
		total += len(want[p])
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	ctx := longContext(t)
	got := map[int32][]string{}
	for n := 0; n < total; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of the sample", n, total)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for _, p := range sample {
		if fmt.Sprint(got[p]) != fmt.Sprint(want[p]) {
			t.Fatalf("partition %d holds %v, want %v", p, got[p], want[p])
		}
	}
}

// measureUnderProduce produces to n partitions for a while and reports
// the most descriptors the node held meanwhile.
func measureUnderProduce(t *testing.T, cb *childBroker, topic string, n int32) {
	cl := newClient(t, cb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	ctx := longContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	most := 0
	for round := range 20 {
		for p := range n {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p * 100, Value: []byte(fmt.Sprint(round))}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
		most = max(most, childFDs(t, cb))
	}
	wg.Wait()
	most = max(most, childFDs(t, cb))
	select {
	case err := <-errs:
		t.Fatalf("producing to %d partitions: %v", n, err)
	default:
	}
	t.Logf("descriptors of the node while producing to %d partitions: at most %d", n, most)
	if most >= lowFDLimit {
		t.Fatalf("node held %d descriptors under produce, limit %d", most, lowFDLimit)
	}
}

// TestAutoCreateManyTopicsUnderLowFDLimit sends one Metadata request that
// auto-creates 400 topics to a node limited to 256 open files, then
// produces to some of them.
func TestAutoCreateManyTopicsUnderLowFDLimit(t *testing.T) {
	const topics = 400
	cb := startLimitedChild(t, t.TempDir(), freeAddr(t), 256)
	cl := newClient(t, cb.addr, kgo.RequestTimeoutOverhead(4*time.Minute))
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for i := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(fmt.Sprintf("auto-%03d", i))
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(longContext(t), cl)
	if err != nil {
		t.Fatalf("metadata request: %v", err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil || len(rt.Partitions) != 1 {
			t.Fatalf("auto-creating %s: %v, %d partitions", *rt.Topic, err, len(rt.Partitions))
		}
	}
	sample := []int32{0}
	for _, name := range []string{"auto-000", "auto-199", "auto-399"} {
		checkSample(t, cb.addr, name, sample, produceSample(t, cb.addr, name, sample, name))
	}
	if n := childFDs(t, cb); n >= 256 {
		t.Fatalf("node holds %d descriptors after creating %d topics", n, topics)
	}
}
