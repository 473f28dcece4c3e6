package node_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/record"
)

// startNodeErr starts a node on dir, returning the error instead of
// failing, for tests where refusing to start may be the right answer.
func startNodeErr(dir string, logs *syncBuffer) (*testNode, error) {
	n, err := node.Start(context.Background(), node.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", NodeID: 1, Settings: corpusSettings,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return nil, err
	}
	return &testNode{Node: n, dir: dir, logs: logs}, nil
}

// rawClient sends hand-built requests that name topics: Produce and Fetch
// (and OffsetCommit) are capped below the versions that use topic ids (kgo sends each request
// at the highest version both sides know, whatever it was built for).
func rawClient(t *testing.T, addr string) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	v.SetMaxKeyVersion(kmsg.OffsetCommit.Int16(), 9)
	return newClient(t, addr, kgo.MaxVersions(v))
}

// markCrashed rewrites every partition checkpoint with the clean flag and
// the recovery point cleared (CRC recomputed), as a crash leaves it.
func markCrashed(t *testing.T, dir string) {
	t.Helper()
	cps, _ := filepath.Glob(filepath.Join(dir, "logs", "*", "checkpoint"))
	for _, p := range cps {
		b, err := os.ReadFile(p)
		if err != nil || len(b) != 32 || string(b[:4]) != "EDCK" {
			continue // already damaged: the node must cope anyway
		}
		binary.BigEndian.PutUint16(b[6:], 0)
		binary.BigEndian.PutUint64(b[16:], 0)
		binary.BigEndian.PutUint32(b[28:], crc32.Checksum(b[:28], crc32.MakeTable(crc32.Castagnoli)))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// servedRecord is one record a fetch returned.
type servedRecord struct {
	offset, ts int64
	key, value string
}

// readRaw fetches topic's partition 0 from its start to its high watermark
// with raw Fetch requests, checking every batch's CRC and framing itself.
// It fails the test on a CRC-failing or malformed batch, and on a stall
// (no progress while below the high watermark). A partition error ends the
// read: refusing to serve a damaged partition is allowed.
func readRaw(t *testing.T, cl *kgo.Client, topic string) (recs []servedRecord, hwm int64, perr error) {
	t.Helper()
	off, err := listOffsetErr(t, cl, topic, -2)
	if err != nil {
		return nil, 0, err
	}
	stuck := 0
	for {
		p := fetchAt(t, cl, topic, off, 64<<10)
		if p.ErrorCode != 0 {
			return recs, p.HighWatermark, fmt.Errorf("fetch %s at %d: %w", topic, off, kerr.ErrorForCode(p.ErrorCode))
		}
		hwm = p.HighWatermark
		if off >= hwm {
			return recs, hwm, nil
		}
		got, next, bad := checkBatches(t, topic, p.RecordBatches, off)
		recs = append(recs, got...)
		if bad {
			return recs, hwm, nil // reported; reading on would repeat it
		}
		if next <= off {
			if stuck++; stuck >= 3 {
				t.Errorf("%s: a consumer stalls at offset %d (high watermark %d): fetches return no whole batch", topic, off, hwm)
				return recs, hwm, nil
			}
			continue
		}
		stuck, off = 0, next
	}
}

// checkBatches walks the batches of one fetch answer and returns their
// records at or past from, and the offset to fetch next. It reports (and
// returns bad on) a batch whose CRC fails or that does not decode.
func checkBatches(t *testing.T, topic string, b []byte, from int64) (out []servedRecord, next int64, bad bool) {
	t.Helper()
	next = from
	for len(b) >= record.HeaderSize {
		size := int(binary.BigEndian.Uint32(b[8:])) + 12
		if size < record.HeaderSize || size > len(b) {
			break // a partial batch at the end is allowed
		}
		batch := b[:size]
		b = b[size:]
		if want, got := binary.BigEndian.Uint32(batch[17:]), record.Checksum(batch); want != got {
			t.Errorf("%s: served a batch at offset %d whose CRC fails (stored %#x, computed %#x)", topic, int64(binary.BigEndian.Uint64(batch)), want, got)
			return out, next, true
		}
		h, recs, err := record.Records(batch)
		if err != nil {
			t.Errorf("%s: served a malformed batch at offset %d: %v", topic, h.BaseOffset, err)
			return out, next, true
		}
		if h.LastOffset() < next {
			continue
		}
		for _, r := range recs {
			o := h.BaseOffset + int64(r.OffsetDelta)
			if o < next {
				continue
			}
			out = append(out, servedRecord{offset: o, ts: h.BaseTimestamp + r.TimestampDelta, key: string(r.Key), value: string(r.Value)})
		}
		next = h.LastOffset() + 1
	}
	return out, next, false
}

func fetchAt(t *testing.T, cl *kgo.Client, topic string, off int64, maxBytes int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := fetchReq(11, fuzzTarget{topic: topic}).(*kmsg.FetchRequest)
	req.SetVersion(11)
	req.MaxWaitMillis, req.MaxBytes = 0, maxBytes
	req.Topics[0].Partitions[0].FetchOffset = off
	req.Topics[0].Partitions[0].PartitionMaxBytes = maxBytes
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatalf("fetch %s at %d: %v", topic, off, err)
	}
	return resp.Topics[0].Partitions[0]
}

// listOffset answers ListOffsets for partition 0 at ts (-1 latest,
// -2 earliest).
func listOffset(t *testing.T, cl *kgo.Client, topic string, ts int64) int64 {
	t.Helper()
	off, err := listOffsetErr(t, cl, topic, ts)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// listOffsetErr is listOffset answering the partition's error.
func listOffsetErr(t *testing.T, cl *kgo.Client, topic string, ts int64) (int64, error) {
	t.Helper()
	req := listOffsetsReq(7, fuzzTarget{topic: topic}).(*kmsg.ListOffsetsRequest)
	req.SetVersion(7)
	req.Topics[0].Partitions = req.Topics[0].Partitions[:1]
	req.Topics[0].Partitions[0].Timestamp = ts
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return 0, fmt.Errorf("ListOffsets %s ts %d: %w", topic, ts, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset, nil
}

// verifyCorpus checks a restarted node against what the corpus wrote. A
// partition the node took offline for corruption (storage's documented
// choice: never truncate acknowledged data below the recovery point) must
// say so in the log and answer KAFKA_STORAGE_ERROR, never data.
func verifyCorpus(t *testing.T, tn *testNode, c *corpus) {
	t.Helper()
	cl := rawClient(t, tn.KafkaAddr())
	served, hwm, perr := readRaw(t, cl, "data")
	for _, r := range served {
		if v, ok := c.data[r.key]; !ok || v != r.value {
			t.Errorf("data-0 offset %d: served %q=%q, which was never written", r.offset, r.key, r.value)
		}
	}
	t.Logf("data-0: %d records served, high watermark %d (written end %d, log start was %d)", len(served), hwm, c.dataEnd, c.deletedTo)
	table, _, terr := readRaw(t, cl, "table")
	for _, r := range table {
		if !c.table[r.key+"="+r.value] {
			t.Errorf("table-0 offset %d: served %q=%q, which was never written", r.offset, r.key, r.value)
		}
	}
	offline := offlineTopics(tn.logs.String())
	checkRefusal(t, cl, "data", perr, offline)
	checkRefusal(t, cl, "table", terr, offline)
	if perr == nil {
		checkTimeLookups(t, cl, served)
		checkMiddleFetches(t, cl, served)
		checkDedup(t, cl, c, hwm)
		checkConsumeKgo(t, tn.KafkaAddr(), c)
		checkAppend(t, cl)
	}
	checkCommit(t, tn, cl, c)
	newHealth(t, tn).check(t, "restart on a damaged data directory")
}

// offlineTopics names the topics with a partition the node's log says it
// took offline.
func offlineTopics(log string) map[string]bool {
	topics := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "partition offline") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if name, ok := strings.CutPrefix(f, "topic="); ok {
				topics[name] = true
			}
		}
	}
	return topics
}

// checkRefusal: a partition that refused to serve must be one the node
// took offline, and an offline one refuses reads, lookups and appends
// alike with KAFKA_STORAGE_ERROR.
func checkRefusal(t *testing.T, cl *kgo.Client, topic string, readErr error, offline map[string]bool) {
	t.Helper()
	if !offline[topic] {
		if readErr != nil {
			t.Errorf("%s-0 refused to serve without being taken offline: %v", topic, readErr)
		}
		return
	}
	t.Logf("%s-0 is offline: %v", topic, readErr)
	if !errors.Is(readErr, kerr.KafkaStorageError) {
		t.Errorf("offline %s-0 answered a read with %v, want KAFKA_STORAGE_ERROR", topic, readErr)
	}
	if _, err := listOffsetErr(t, cl, topic, -1); !errors.Is(err, kerr.KafkaStorageError) {
		t.Errorf("offline %s-0 answered ListOffsets with %v, want KAFKA_STORAGE_ERROR", topic, err)
	}
	p := rawProduce(t, cl, topic, advBatch(1))
	if p.ErrorCode != kerr.KafkaStorageError.Code {
		t.Errorf("offline %s-0 answered a produce with %v, want KAFKA_STORAGE_ERROR", topic, kerr.ErrorForCode(p.ErrorCode))
	}
}

// checkTimeLookups asks ListOffsets by timestamp for the timestamps of ten
// served records: the answer is the first served offset at or after it.
func checkTimeLookups(t *testing.T, cl *kgo.Client, served []servedRecord) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(served)), 7))
	for range min(10, len(served)) {
		r := served[rng.IntN(len(served))]
		want := r.offset
		for _, s := range served {
			if s.ts >= r.ts {
				want = s.offset
				break
			}
		}
		if got := listOffset(t, cl, "data", r.ts); got != want {
			t.Errorf("ListOffsets data-0 by timestamp %d: offset %d, want %d", r.ts, got, want)
		}
	}
}

// checkMiddleFetches fetches from ten served offsets: the first batch
// answered must hold the offset asked for (the offset index finds it).
func checkMiddleFetches(t *testing.T, cl *kgo.Client, served []servedRecord) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(served)), 8))
	for range min(10, len(served)) {
		o := served[rng.IntN(len(served))].offset
		p := fetchAt(t, cl, "data", o, 1024)
		if p.ErrorCode != 0 {
			t.Errorf("fetch data-0 at %d: %v", o, kerr.ErrorForCode(p.ErrorCode))
			continue
		}
		b := p.RecordBatches
		if len(b) < record.HeaderSize {
			t.Errorf("fetch data-0 at %d: no batch answered (%d bytes)", o, len(b))
			continue
		}
		base := int64(binary.BigEndian.Uint64(b))
		last := base + int64(int32(binary.BigEndian.Uint32(b[23:])))
		if base > o || last < o {
			t.Errorf("fetch data-0 at %d: first batch holds %d..%d", o, base, last)
		}
	}
}

// checkDedup resends the corpus's last idempotent batch: when the log kept
// it, the node must recognise the duplicate and not append it again.
func checkDedup(t *testing.T, cl *kgo.Client, c *corpus, hwm int64) {
	t.Helper()
	if hwm != c.dataEnd {
		return // the damage cost the tail; the producer's state went with it
	}
	p := rawProduce(t, cl, "data", c.lastRaw)
	if after := listOffset(t, cl, "data", -1); after != hwm {
		t.Errorf("resent idempotent batch (pid %d seq 0) was appended again: end %d -> %d (answer %v, base %d)", c.pid, hwm, after, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}

// checkCommit: the group's committed offset is the one committed, or
// gone; never another value. When its __consumer_offsets partition went
// offline the coordinator is unavailable (retriable) instead. The node
// takes that partition offline while loading the coordinator, which runs
// apart from the request path, so the log is read only after the
// coordinator has answered something other than "loading": the offline
// line is written before the coordinator gives up.
func checkCommit(t *testing.T, tn *testNode, cl *kgo.Client, c *corpus) {
	t.Helper()
	var resp *kmsg.OffsetFetchResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		req := offsetFetchReq(7, fuzzTarget{topic: "data", group: "g"}).(*kmsg.OffsetFetchRequest)
		req.SetVersion(7)
		req.Topics[0].Partitions = []int32{0}
		var err error
		resp, err = req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if offlineTopics(tn.logs.String())["__consumer_offsets"] {
		if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Errorf("OffsetFetch g with __consumer_offsets offline: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(resp.ErrorCode))
		}
		return
	}
	if resp.ErrorCode != 0 {
		t.Errorf("OffsetFetch g: %v", kerr.ErrorForCode(resp.ErrorCode))
		return
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || (p.Offset != c.committed && p.Offset != -1) {
		t.Errorf("OffsetFetch g data-0: offset %d error %v, committed %d", p.Offset, kerr.ErrorForCode(p.ErrorCode), c.committed)
	}
}

// checkConsumeKgo consumes data-0 with franz-go (which checks CRCs) from
// the start to the end offset: every record must be one written, and no
// fetch error may be a CRC mismatch.
func checkConsumeKgo(t *testing.T, addr string, c *corpus) {
	t.Helper()
	probe := newClient(t, addr)
	end := listOffset(t, probe, "data", -1)
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"data": {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("franz-go consumer did not reach data-0's end offset %d in 15 s", end)
			return
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			if strings.Contains(ferr.Error(), "crc") {
				t.Errorf("franz-go consumer of data-0 got a batch whose CRC fails: %v", ferr)
			} else {
				t.Logf("franz-go consumer of data-0 stopped: %v", ferr)
			}
			return
		}
		for _, r := range fs.Records() {
			if v, ok := c.data[string(r.Key)]; !ok || v != string(r.Value) {
				t.Errorf("franz-go read data-0 offset %d %q=%q, never written", r.Offset, r.Key, r.Value)
			}
			if r.Offset >= end-1 {
				return
			}
		}
	}
}

// checkAppend: the damaged partition takes a new record and serves it.
func checkAppend(t *testing.T, cl *kgo.Client) {
	t.Helper()
	res, err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "data", Key: []byte("after"), Value: []byte("restart")}).First()
	if err != nil {
		t.Errorf("producing to data-0 after the restart: %v", err)
		return
	}
	p := fetchAt(t, cl, "data", res.Offset, 1<<20)
	recs, _, _ := checkBatches(t, "data", p.RecordBatches, res.Offset)
	if len(recs) == 0 || recs[0].offset != res.Offset || recs[0].value != "restart" {
		t.Errorf("the record appended at %d after the restart is not served back: %+v", res.Offset, recs)
	}
}
