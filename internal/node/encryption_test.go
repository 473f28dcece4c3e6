package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// encMarker is in every key, value, header, group id and transactional id
// the encryption tests write; it must never be found on disk.
const encMarker = "Zq7ENCMARK"

// newKeyFile writes a key file holding keys (hex lines, with a comment and
// a blank line, as an operator might) and returns its path.
func newKeyFile(t *testing.T, keys ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.hex")
	body := "# eddy encryption keys: the first encrypts\n\n" + strings.Join(keys, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// grepTree fails if any file under dir holds s.
func grepTree(t *testing.T, dir, s string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile by a running node
		}
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q in plain text", path, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", dir)
	}
}

// hashTree returns the SHA-256 of every file under dir, by path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		sum := sha256.Sum256(b)
		out[path] = hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// refusedStart runs eddy serve on dir with args, which must exit with an
// error naming the key mismatch and change no file in dir.
func refusedStart(t *testing.T, dir string, args ...string) {
	t.Helper()
	before := hashTree(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, eddyBinary(t), serveArgs(dir, freeAddr(t), args...)...).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("eddy serve %v started (or hung): %v\n%s", args, err, out)
	}
	if !strings.Contains(string(out), "encryption keys do not match the data") {
		t.Fatalf("eddy serve %v: no clear refusal:\n%s", args, out)
	}
	after := hashTree(t, dir)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refused start changed the data directory:\nbefore %v\nafter  %v", before, after)
	}
}

// stopChild stops a child broker with SIGTERM and waits for it.
func stopChild(t *testing.T, cb *childBroker) {
	t.Helper()
	if err := cb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cb.cmd.Wait(); err != nil {
		t.Fatalf("broker exit after SIGTERM: %v", err)
	}
}

// markedRecords are n records with the marker in key, value and headers.
func markedRecords(topic string, n int, tag string) []*kgo.Record {
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{
			Topic:   topic,
			Key:     fmt.Appendf(nil, "%s-%s-key-%d", encMarker, tag, i),
			Value:   fmt.Appendf(nil, "%s-%s-value-%d-%s", encMarker, tag, i, strings.Repeat("x", i%300)),
			Headers: []kgo.RecordHeader{{Key: encMarker + "-h", Value: fmt.Appendf(nil, "%s-%d", encMarker, i)}},
		})
	}
	return recs
}

func produceAll(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// sameRecordsInOrder checks that got are want, byte for byte, in order.
func sameRecordsInOrder(t *testing.T, want, got []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !bytes.Equal(w.Key, g.Key) || !bytes.Equal(w.Value, g.Value) || fmt.Sprint(w.Headers) != fmt.Sprint(g.Headers) {
			t.Fatalf("record %d: got %q=%q %v, want %q=%q %v", i, g.Key, g.Value, g.Headers, w.Key, w.Value, w.Headers)
		}
	}
}

// TestEncryptionAtRest runs a node process with a key: records, a
// compacted topic after cleaning, committed offsets and transaction state
// never reach the disk in plain text; a restart with the key reads every
// record back byte for byte; a wrong key or none is refused with the data
// directory untouched.
func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	key := newKeyFile(t, randomKey(t))
	cb := startChild(t, dir, "--encryption-key-file", key, "--set", "log.cleaner.backoff.ms=100")
	adm := newAdmin(t, cb.addr)
	createTopic(t, adm, "secret", 2, nil)
	createTopic(t, adm, "table", 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.bytes": ptr("16384"), "segment.ms": ptr("1000"),
		"min.cleanable.dirty.ratio": ptr("0.01"),
	})
	cl := newClient(t, cb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := markedRecords("secret", 400, "data")
	for i, r := range want {
		r.Partition = int32(i % 2)
	}
	produceAll(t, cl, want)

	// A compacted topic: many updates of few keys, cleaned.
	var updates []*kgo.Record
	for i := range 3000 {
		updates = append(updates, &kgo.Record{Topic: "table", Key: fmt.Appendf(nil, "%s-k%02d", encMarker, i%20), Value: fmt.Appendf(nil, "%s-v%05d", encMarker, i)})
	}
	produceAll(t, cl, updates)
	time.Sleep(1100 * time.Millisecond) // segment.ms: the next record rolls
	produceAll(t, cl, []*kgo.Record{{Topic: "table", Key: []byte("sentinel"), Value: []byte("s")}})
	waitFor(t, "the cleaner to clean table", func() bool { return cleanedToLog(cb.log.String(), "table") > 0 })

	// __consumer_offsets: a group named with the marker commits.
	group := encMarker + "-group"
	gc := newClient(t, cb.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("secret"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for n := 0; n < 10; {
		fs := gc.PollFetches(testContext(t))
		n += len(fs.Records())
	}
	if err := gc.CommitUncommittedOffsets(testContext(t)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	gc.Close()
	// __transaction_state: a transactional id named with the marker.
	tc := newClient(t, cb.addr, kgo.TransactionalID(encMarker+"-txn"), kgo.DefaultProduceTopic("secret"))
	if err := tc.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	txnRecs := markedRecords("secret", 5, "txn")
	produceAll(t, tc, txnRecs)
	if err := tc.EndTransaction(testContext(t), kgo.TryCommit); err != nil {
		t.Fatalf("commit transaction: %v", err)
	}
	tc.Close()
	for _, internal := range []string{"__consumer_offsets", "__transaction_state"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "logs", internal+"-*")); len(m) == 0 {
			t.Fatalf("no %s partitions on disk", internal)
		}
	}
	stopChild(t, cb)
	grepTree(t, dir, encMarker)

	refusedStart(t, dir, "--encryption-key-file", newKeyFile(t, randomKey(t)))
	refusedStart(t, dir)

	cb = startChild(t, dir, "--encryption-key-file", key)
	var got []*kgo.Record
	for _, r := range consumeAll(t, cb.addr, "secret", len(want)+len(txnRecs)) {
		if bytes.Contains(r.Key, []byte("-data-")) {
			got = append(got, r)
		}
	}
	byPartition := func(rs []*kgo.Record, p int32) []*kgo.Record {
		var out []*kgo.Record
		for _, r := range rs {
			if r.Partition == p {
				out = append(out, r)
			}
		}
		return out
	}
	for p := range int32(2) {
		sameRecordsInOrder(t, byPartition(want, p), byPartition(got, p))
	}
	offs, err := kadm.NewClient(newClient(t, cb.addr)).FetchOffsets(testContext(t), group)
	if err != nil || offs.Error() != nil {
		t.Fatalf("committed offsets after restart: %v %v", err, offs.Error())
	}
	if len(offs) == 0 {
		t.Fatal("the group's committed offsets are gone")
	}
}

// cleanedToLog returns the highest cleaned_to a node's log names for
// topic, -1 if none.
func cleanedToLog(log, topic string) int64 {
	best := int64(-1)
	for _, m := range cleanedToRE.FindAllStringSubmatch(log, -1) {
		if m[1] == topic {
			var n int64
			fmt.Sscan(m[2], &n)
			best = max(best, n)
		}
	}
	return best
}

// TestEncryptionKeyRotation: a second key put first encrypts new data, the
// old key still reads the old; eddy storage reencrypt (which refuses to
// run beside the node) moves everything, plain data from before
// encryption included, to the new key; then the old key can go.
func TestEncryptionKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := randomKey(t), randomKey(t)
	addr := freeAddr(t)
	var want []*kgo.Record
	round := func(tag string, args ...string) *childBroker {
		cb := startChildAt(t, dir, addr, args...)
		if tag == "plain" {
			createTopic(t, newAdmin(t, cb.addr), "rot", 1, nil)
		}
		recs := markedRecords("rot", 100, tag)
		produceAll(t, newClient(t, cb.addr), recs)
		want = append(want, recs...)
		return cb
	}
	stopChild(t, round("plain"))
	stopChild(t, round("old", "--encryption-key-file", newKeyFile(t, oldKey)))
	both := newKeyFile(t, newKey, oldKey)
	cb := round("new", "--encryption-key-file", both)

	out, err := exec.Command(eddyBinary(t), "storage", "reencrypt", "--data-dir", dir, "--encryption-key-file", both).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("reencrypt beside a running node: %v\n%s", err, out)
	}
	stopChild(t, cb)
	refusedStart(t, dir, "--encryption-key-file", newKeyFile(t, newKey))

	out, err = exec.Command(eddyBinary(t), "storage", "reencrypt", "--data-dir", dir, "--encryption-key-file", both).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "re-encrypted") {
		t.Fatalf("reencrypt: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	grepTree(t, dir, encMarker)

	cb = startChildAt(t, dir, addr, "--encryption-key-file", newKeyFile(t, newKey))
	sameRecordsInOrder(t, want, consumeAll(t, cb.addr, "rot", len(want)))
}

// TestEncryptedCluster: three nodes, each with its own key; the followers
// encrypt what they fetch, so no replica holds the marker and no two
// replicas hold the same bytes, yet each is complete: after the leader is
// killed a follower serves every record.
func TestEncryptedCluster(t *testing.T) {
	keys := []string{newKeyFile(t, randomKey(t)), newKeyFile(t, randomKey(t)), newKeyFile(t, randomKey(t))}
	c := newProcClusterArgs(t, 3, 0, func(i int) []string { return []string{"--encryption-key-file", keys[i]} })
	adm := kadm.NewClient(c.client())
	createTopicRF(t, adm, "rep", 1, 3, nil)
	want := markedRecords("rep", 500, "rep")
	produceAll(t, c.client(kgo.RequiredAcks(kgo.AllISRAcks())), want)
	c.waitFullISR(adm, "rep", 0)
	// Encrypted batches have the same size everywhere: equal sizes mean
	// every replica holds every batch.
	waitFor(t, "every replica to hold the whole log", func() bool {
		n := len(c.segmentBytes(0, "rep", 0))
		return n > 0 && len(c.segmentBytes(1, "rep", 0)) == n && len(c.segmentBytes(2, "rep", 0)) == n
	})
	if bytes.Equal(c.segmentBytes(0, "rep", 0), c.segmentBytes(1, "rep", 0)) {
		t.Fatal("two replicas hold the same bytes: not encrypted with their own keys")
	}
	for _, d := range c.dirs {
		grepTree(t, d, encMarker)
	}
	leader, _ := c.partitionState(adm, "rep", 0)
	c.nodes[leader-1].kill()
	waitFor(t, "a new leader", func() bool {
		l, _ := c.partitionState(adm, "rep", 0)
		return l > 0 && l != leader
	})
	var live []string
	for i, a := range c.kafka {
		if int32(i+1) != leader {
			live = append(live, a)
		}
	}
	sameRecordsInOrder(t, want, consumeAll(t, live[0], "rep", len(want), kgo.SeedBrokers(live...)))
}

// TestEncryptedTornTailTruncatedOnStart is TestTornTailTruncatedOnStart on
// an encrypted log: a crash leaves the last unit cut short (its tag torn);
// restarting with the key truncates it and keeps the rest.
func TestEncryptedTornTailTruncatedOnStart(t *testing.T) {
	dir := t.TempDir()
	key := newKeyFile(t, randomKey(t))
	cb := startChild(t, dir, "--encryption-key-file", key)
	createTopic(t, newAdmin(t, cb.addr), "torn", 1, nil)
	cl := newClient(t, cb.addr, kgo.MaxBufferedRecords(1))
	for i := range 10 {
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "torn", Value: fmt.Appendf(nil, "%s-%d", encMarker, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	cb.kill() // a crash: no clean shutdown marker
	damageFile(t, activeSegment(t, filepath.Join(dir, "logs", "torn-0")), "cut")

	again := startChild(t, dir, "--encryption-key-file", key)
	for i, r := range consumeAll(t, again.addr, "torn", 9) {
		if string(r.Value) != fmt.Sprintf("%s-%d", encMarker, i) {
			t.Fatalf("offset %d holds %q", r.Offset, r.Value)
		}
	}
	end, err := newAdmin(t, again.addr).ListEndOffsets(testContext(t), "torn")
	if err != nil {
		t.Fatal(err)
	}
	if got := end["torn"][0].Offset; got != 9 {
		t.Fatalf("end offset after recovery %d, want 9", got)
	}
	if err := newClient(t, again.addr).ProduceSync(testContext(t), &kgo.Record{Topic: "torn", Value: []byte("next")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if last := consumeAll(t, again.addr, "torn", 10)[9]; string(last.Value) != "next" || last.Offset != 9 {
		t.Fatalf("append after recovery landed at %d as %q", last.Offset, last.Value)
	}
}
