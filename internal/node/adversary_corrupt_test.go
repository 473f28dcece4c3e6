package node_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// corpusSettings keep the data directory small and the cleaner quick.
var corpusSettings = map[string]string{
	"offsets.topic.num.partitions": "1",
	"log.cleaner.backoff.ms":       "100",
}

// corpus is a data directory written through Kafka clients, and what was
// written to it.
type corpus struct {
	dir        string
	data       map[string]string // topic "data": key -> value (keys unique)
	table      map[string]bool   // topic "table": "key=value" of every write
	dataEnd    int64             // end offset of data-0
	committed  int64             // group "g" committed this offset for data-0
	tsBase     int64             // data record i has timestamp tsBase+i*10
	pid        int64             // idempotent producer of the last raw batch
	lastRaw    []byte            // that batch, as sent
	deletedTo  int64             // DeleteRecords moved data-0's start here
	dataCount  int
	tableCount int
}

// buildCorpus writes the corpus once: an idempotent producer to "data"
// (1 partition, 8 KB segments, dense indexes, explicit timestamps), a
// compacted "table" cleaned at least once, a consumer group commit, a raw
// idempotent batch and a DeleteRecords; then closes the node cleanly.
func buildCorpus(t *testing.T) *corpus {
	t.Helper()
	c := &corpus{dir: t.TempDir(), data: map[string]string{}, table: map[string]bool{}, dataCount: 1500, tableCount: 600}
	tn := startNode(t, c.dir, corpusSettings)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "data", 1, map[string]*string{"segment.bytes": ptr("8192"), "index.interval.bytes": ptr("256")})
	createTopic(t, adm, "table", 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.bytes": ptr("2048"), "segment.ms": ptr("500"), "index.interval.bytes": ptr("256"),
		"min.cleanable.dirty.ratio": ptr("0.01"), "delete.retention.ms": ptr("100000"),
	})
	cl := newClient(t, tn.KafkaAddr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(700))
	c.tsBase = time.Now().Add(-time.Hour).UnixMilli()
	for i := range c.dataCount {
		k, v := fmt.Sprintf("d-%05d", i), fmt.Sprintf("value-%05d-%s", i, strings.Repeat("x", i%50))
		c.data[k] = v
		cl.Produce(context.Background(), &kgo.Record{Topic: "data", Key: []byte(k), Value: []byte(v), Timestamp: time.UnixMilli(c.tsBase + int64(i)*10)}, nil)
	}
	for i := range c.tableCount {
		k, v := fmt.Sprintf("t-%02d", i%40), fmt.Sprintf("tv-%04d", i)
		c.table[k+"="+v] = true
		cl.Produce(context.Background(), &kgo.Record{Topic: "table", Key: []byte(k), Value: []byte(v)}, nil)
	}
	flush(t, cl)
	c.writeRawIdempotent(t, tn, rawClient(t, tn.KafkaAddr()))
	c.commitAndDelete(t, adm)
	// A record after segment.ms rolls the table's segment, so the cleaner
	// cleans and writes cleaner.checkpoint.
	time.Sleep(600 * time.Millisecond) // segment.ms must pass; the node has no hook to roll
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "table", Key: []byte("t-00"), Value: []byte("tv-roll")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.table["t-00=tv-roll"] = true
	waitFor(t, "the table's cleaner checkpoint", func() bool {
		_, err := os.Stat(filepath.Join(c.dir, "logs", "table-0", "cleaner.checkpoint"))
		return err == nil
	})
	tn.stop(t)
	return c
}

// writeRawIdempotent sends one idempotent batch by hand (producer id from
// InitProducerID, sequence 0), kept so that a resend after restart can be
// checked for deduplication.
func (c *corpus) writeRawIdempotent(t *testing.T, tn *testNode, cl *kgo.Client) {
	t.Helper()
	ipr, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testContext(t), cl)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %v %v", err, kerr.ErrorForCode(ipr.ErrorCode))
	}
	c.pid = ipr.ProducerID
	recs := []record.Record{{Key: []byte("d-raw-0"), Value: []byte("raw-0")}, {Key: []byte("d-raw-1"), Value: []byte("raw-1")}}
	for _, r := range recs {
		c.data[string(r.Key)] = string(r.Value)
	}
	c.lastRaw = advIdempotentBatch(c.tsBase+int64(c.dataCount)*10, c.pid, ipr.ProducerEpoch, 0, recs)
	resp := rawProduce(t, cl, "data", c.lastRaw)
	if resp.ErrorCode != 0 {
		t.Fatalf("raw idempotent produce: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	c.dataEnd = resp.BaseOffset + int64(len(recs))
}

// advIdempotentBatch is record.Build's batch with a producer id, epoch and
// base sequence, its CRC recomputed.
func advIdempotentBatch(ts, pid int64, epoch int16, seq int32, recs []record.Record) []byte {
	b := record.Build(ts, recs)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], record.Checksum(b))
	return b
}

// rawProduce sends one batch to partition 0 of topic with acks=all.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := produceReq(9, fuzzTarget{topic: topic}).(*kmsg.ProduceRequest)
	req.SetVersion(9)
	req.Acks = -1
	req.Topics[0].Partitions[0].Records = batch
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func (c *corpus) commitAndDelete(t *testing.T, adm *kadm.Client) {
	t.Helper()
	// Commits of other groups first, so that __consumer_offsets-0 outgrows
	// index.interval.bytes and has an offset index entry to damage (index
	// files are created at their first entry).
	for i := range 60 {
		var offs kadm.Offsets
		offs.AddOffset("data", 0, int64(i), -1)
		if _, err := adm.CommitOffsets(testContext(t), fmt.Sprintf("filler-%02d", i), offs); err != nil {
			t.Fatalf("committing offsets of a filler group: %v", err)
		}
	}
	c.committed = 1234
	var offs kadm.Offsets
	offs.AddOffset("data", 0, c.committed, -1)
	resp, err := adm.CommitOffsets(testContext(t), "g", offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("committing offsets: %v", err)
	}
	c.deletedTo = 100
	var del kadm.Offsets
	del.AddOffset("data", 0, c.deletedTo, -1)
	dres, err := adm.DeleteRecords(testContext(t), del)
	if err == nil {
		err = dres.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
}

// copyDir copies a data directory (regular files only; the lock file too).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fileKind picks, in a data directory, the files of one kind.
type fileKind struct {
	name string
	glob string // relative to the data directory
	// metadata marks a file the node cannot rebuild: refusing to start
	// with an error naming it is the right answer.
	metadata bool
	// deletable marks a metadata file whose loss the node repairs: the
	// producer id file restarts above the ids the logs hold.
	deletable bool
}

var fileKinds = []fileKind{
	{"data-log", "logs/data-0/*.log", false, false},
	{"data-index", "logs/data-0/*.index", false, false},
	{"data-timeindex", "logs/data-0/*.timeindex", false, false},
	{"data-checkpoint", "logs/data-0/checkpoint", false, false},
	{"data-producer-snapshot", "logs/data-0/producer.snapshot", false, false},
	{"table-log", "logs/table-0/*.log", false, false},
	{"table-cleaner-checkpoint", "logs/table-0/cleaner.checkpoint", false, false},
	{"offsets-log", "logs/__consumer_offsets-0/*.log", false, false},
	{"offsets-index", "logs/__consumer_offsets-0/*.index", false, false},
	{"offsets-checkpoint", "logs/__consumer_offsets-0/checkpoint", false, false},
	{"meta-state", "meta/state", true, false},
	{"meta-producer-ids", "meta/producer-ids", true, true},
}

// TestAdversaryCorrupt damages one file of each kind in a data directory
// written by real clients (flip one byte at a random offset, or cut the
// file at a random offset, or delete it), restarts the node, and checks that it starts
// (or, for a metadata file, refuses with an error naming the file), never
// panics, never serves a batch whose CRC fails or a record nobody wrote,
// never stalls a consumer, answers ListOffsets by timestamp and fetches
// from the middle correctly, keeps the group's commit or forgets it (never
// invents one), still deduplicates a resent idempotent batch, and takes
// new writes. "/crashed" variants also clear the clean-shutdown flag and
// the recovery point, as a crash right after the damage would.
func TestAdversaryCorrupt(t *testing.T) {
	c := buildCorpus(t)
	listFiles(t, c.dir)
	for _, k := range fileKinds {
		for _, how := range []string{"flip", "flip2", "flip3", "cut", "cut2", "delete"} {
			t.Run(k.name+"/"+how, func(t *testing.T) { corruptCase(t, c, k, strings.TrimRight(how, "23"), false) })
		}
		if strings.HasSuffix(k.name, "-log") || strings.HasSuffix(k.name, "index") {
			t.Run(k.name+"/flip/crashed", func(t *testing.T) { corruptCase(t, c, k, "flip", true) })
		}
	}
}

func listFiles(t *testing.T, dir string) {
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			names = append(names, fmt.Sprintf("%s (%d)", rel, info.Size()))
		}
		return nil
	})
	t.Logf("corpus: %d files: %s", len(names), strings.Join(names, ", "))
}

func corruptCase(t *testing.T, c *corpus, k fileKind, how string, crashed bool) {
	rng := advRand(t)
	dir := t.TempDir()
	copyDir(t, c.dir, dir)
	files, _ := filepath.Glob(filepath.Join(dir, k.glob))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no %s file in the corpus", k.glob)
	}
	victim := files[rng.IntN(len(files))]
	desc := damageAt(t, rng, victim, how)
	t.Logf("damaged %s: %s", strings.TrimPrefix(victim, dir+"/"), desc)
	if crashed {
		markCrashed(t, dir)
	}
	mustRefuse := k.metadata && !(k.deletable && how == "delete")
	logs := &syncBuffer{}
	tn, err := startNodeErr(dir, logs)
	if err != nil {
		if mustRefuse && strings.Contains(err.Error(), filepath.Base(victim)) {
			t.Logf("refused to start, as it should: %v", err)
			return
		}
		t.Fatalf("node did not start after damaging %s (%s): %v\nnode log:\n%s", victim, desc, err, logs.String())
	}
	t.Cleanup(func() {
		tn.stop(t)
		if t.Failed() {
			t.Logf("node log:\n%s", clip(tn.logs.String(), 20000))
		}
	})
	if mustRefuse {
		t.Errorf("node started although %s was damaged (%s): it cannot know its topics are right", victim, desc)
	}
	verifyCorpus(t, tn, c)
	for _, l := range panicLines(tn.logs.String()) {
		t.Errorf("a handler panicked: %s", clip(l, 3000))
	}
}

// damageAt flips one byte at a random offset, cuts the file there, or
// deletes it.
func damageAt(t *testing.T, rng *rand.Rand, path, how string) (desc string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return "empty file, left as is"
	}
	at := rng.IntN(len(b))
	switch how {
	case "delete":
		err = os.Remove(path)
		desc = "deleted"
	case "flip":
		x := byte(1 + rng.IntN(255))
		b[at] ^= x
		err = os.WriteFile(path, b, 0o644)
		desc = fmt.Sprintf("byte %d of %d xor %#x", at, len(b), x)
	default:
		err = os.Truncate(path, int64(at))
		desc = fmt.Sprintf("cut to %d of %d bytes", at, len(b))
	}
	if err != nil {
		t.Fatal(err)
	}
	return desc
}
