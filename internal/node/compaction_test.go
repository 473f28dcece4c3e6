package node_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactedTopicKeepsLatestPerKey produces 200,000 updates over 1,000
// keys, a final value for every key and tombstones for ten, then checks
// that once cleaned a consumer from the start sees every key exactly once
// with its latest value, that the log shrank, and that the tombstones go
// after delete.retention.ms.
func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("produces 200,000 records")
	}
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "table", 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.bytes": ptr("262144"), "segment.ms": ptr("1000"),
		"min.cleanable.dirty.ratio": ptr("0.01"), "delete.retention.ms": ptr("1000"),
	})
	cl := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("table"))
	want := map[string]string{}
	var produced int64 // key and value bytes
	produce := func(key string, value []byte) {
		produced += int64(len(key) + len(value))
		cl.Produce(testContext(t), &kgo.Record{Key: []byte(key), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
		if value == nil {
			delete(want, key)
		} else {
			want[key] = string(value)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		// Hex digits compress about as well as typical text values.
		produce(fmt.Sprintf("key-%04d", i%1000), fmt.Appendf(nil, "%06d|%016x%016x%016x%016x%016x", i,
			rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()))
	}
	for k := range 1000 {
		produce(fmt.Sprintf("key-%04d", k), fmt.Appendf(nil, "final-%04d", k))
	}
	for k := range 10 {
		produce(fmt.Sprintf("key-%04d", k), nil)
	}
	flush(t, cl)
	end := rollWithSentinel(t, cl)
	waitFor(t, "the cleaner to clean up to the sentinel", func() bool { return cleanedTo(tn, "table") >= end })

	got := readTable(t, tn.KafkaAddr(), "table", end+1)
	checkTable(t, got, want, 10)
	// The cleaner ran while producing, so compare with what was produced.
	after := dirSize(t, filepath.Join(tn.dir, "logs", "table-0"), ".log")
	if after*50 > produced {
		t.Fatalf("%d bytes produced, log holds %d", produced, after)
	}
	t.Logf("%d bytes of keys and values produced, log %d bytes; cleaner %s", produced, after, cleanerThroughput(t, tn))

	// More updates make the log dirty again; by the next cleaning the
	// tombstones are past delete.retention.ms and vanish.
	for i := range 300 {
		produce(fmt.Sprintf("key-%04d", 500+i), fmt.Appendf(nil, "again-%d", i))
	}
	flush(t, cl)
	end = rollWithSentinel(t, cl)
	waitFor(t, "the second cleaning", func() bool { return cleanedTo(tn, "table") >= end })
	checkTable(t, readTable(t, tn.KafkaAddr(), "table", end+1), want, 0)
}

func flush(t *testing.T, cl *kgo.Client) {
	t.Helper()
	if err := cl.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// rollWithSentinel waits out segment.ms (1 s) so that the next record
// rolls the segment holding the last updates, appends that record and
// returns its offset: everything below it is then cleanable.
func rollWithSentinel(t *testing.T, cl *kgo.Client) int64 {
	t.Helper()
	time.Sleep(1100 * time.Millisecond)
	key := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	r, err := cl.ProduceSync(testContext(t), &kgo.Record{Key: []byte(key), Value: []byte("s")}).First()
	if err != nil {
		t.Fatal(err)
	}
	return r.Offset
}

var cleanedToRE = regexp.MustCompile(`msg="cleaned log" topic=(\S+) partition=\d+ .*cleaned_to=(\d+)`)

// cleanedTo returns the highest cleaned_to the node logged for topic.
func cleanedTo(tn *testNode, topic string) int64 {
	best := int64(-1)
	for _, m := range cleanedToRE.FindAllStringSubmatch(tn.logs.String(), -1) {
		if m[1] == topic {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			best = max(best, n)
		}
	}
	return best
}

var cleanedRunRE = regexp.MustCompile(`msg="cleaned log" .*bytes_read=(\d+) .* duration=(\S+)`)

// cleanerThroughput sums what the node's cleaner logged.
func cleanerThroughput(t *testing.T, tn *testNode) string {
	var bytes int64
	var d time.Duration
	runs := cleanedRunRE.FindAllStringSubmatch(tn.logs.String(), -1)
	for _, m := range runs {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		dd, err := time.ParseDuration(m[2])
		if err != nil {
			t.Fatalf("duration %q: %v", m[2], err)
		}
		bytes, d = bytes+n, d+dd
	}
	return fmt.Sprintf("%d runs, %.1f MB read in %v: %.1f MB/s", len(runs), float64(bytes)/1e6, d,
		float64(bytes)/1e6/max(d.Seconds(), 1e-9))
}

// readTable consumes the partition from the start up to offset end and
// returns every record by key; a key seen twice fails the test. opts add
// to the consumer's options (an isolation level, say).
func readTable(t *testing.T, addr, topic string, end int64, opts ...kgo.Opt) map[string]*kgo.Record {
	t.Helper()
	all := append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, addr, all...)
	ctx := testContext(t)
	got := map[string]*kgo.Record{}
	for last := int64(-1); last < end-1; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read to offset %d of %d before the deadline", last, end)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		for _, r := range fs.Records() {
			if prev, ok := got[string(r.Key)]; ok {
				t.Fatalf("key %s at offsets %d and %d after cleaning", r.Key, prev.Offset, r.Offset)
			}
			got[string(r.Key)] = r
			last = r.Offset
		}
	}
	return got
}

// checkTable compares what was read with the expected table; tombstones
// may still be there as null values.
func checkTable(t *testing.T, got map[string]*kgo.Record, want map[string]string, tombstones int) {
	t.Helper()
	nulls := 0
	for k, r := range got {
		switch {
		case strings.HasPrefix(k, "sentinel-"):
		case r.Value == nil:
			if _, ok := want[k]; ok {
				t.Fatalf("key %s is a tombstone, want %q", k, want[k])
			}
			nulls++
		case string(r.Value) != want[k]:
			t.Fatalf("key %s = %q, want %q", k, r.Value, want[k])
		}
	}
	for k := range want {
		if got[k] == nil {
			t.Fatalf("key %s lost", k)
		}
	}
	if nulls != tombstones {
		t.Fatalf("%d tombstones read, want %d", nulls, tombstones)
	}
}

// TestConsumerOffsetsSurviveCleaning commits offsets for one group many
// times so that __consumer_offsets rolls and is cleaned, restarts, and
// checks that the coordinator reloads the latest offsets (and those of a
// group committed once, long before).
func TestConsumerOffsetsSurviveCleaning(t *testing.T) {
	settings := map[string]string{"offsets.topic.segment.bytes": "16384", "offsets.topic.num.partitions": "1"}
	tn := startNode(t, "", settings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "t", 3, nil)
	commit := func(group string, i int64) {
		var os kadm.Offsets
		for p := range int32(3) {
			os.AddOffset("t", p, i*int64(p+1), -1)
		}
		resp, err := adm.CommitOffsets(testContext(t), group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %s: %v", group, err)
		}
	}
	commit("quiet", 42)
	const commits = 3000
	for i := range int64(commits) {
		commit("busy", i)
	}
	waitFor(t, "the cleaner to clean __consumer_offsets", func() bool { return cleanedTo(tn, "__consumer_offsets") > 0 })
	dir := tn.dir
	tn.stop(t)

	again := startNode(t, dir, settings)
	adm = newAdmin(t, again.KafkaAddr())
	for group, i := range map[string]int64{"busy": commits - 1, "quiet": 42} {
		fetched, err := adm.FetchOffsets(testContext(t), group)
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			o, ok := fetched.Lookup("t", p)
			if !ok || o.Err != nil || o.At != i*int64(p+1) {
				t.Fatalf("group %s partition %d after cleaning and restart: %+v, want %d", group, p, o, i*int64(p+1))
			}
		}
	}
}
