package node_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestListOffsets covers earliest, latest, max timestamp and lookups by
// time, including one inside a compressed batch.
func TestListOffsets(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "lo", 1, nil)
	cl := newClient(t, tn.KafkaAddr(), kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerLinger(50*time.Millisecond))
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ { // timestamps base+0s, +10s, ..., +90s; +50s is the largest
		ts := base.Add(time.Duration(i*10) * time.Second)
		if i == 5 {
			ts = base.Add(500 * time.Second)
		}
		recs = append(recs, &kgo.Record{Topic: "lo", Value: []byte{byte(i)}, Timestamp: ts})
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	check := func(name string, got kadm.ListedOffsets, err error, want int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, _ := got.Lookup("lo", 0)
		if o.Err != nil || o.Offset != want {
			t.Fatalf("%s: offset %d (%v), want %d", name, o.Offset, o.Err, want)
		}
	}
	got, err := adm.ListStartOffsets(ctx, "lo")
	check("earliest", got, err, 0)
	got, err = adm.ListEndOffsets(ctx, "lo")
	check("latest", got, err, 10)
	got, err = adm.ListMaxTimestampOffsets(ctx, "lo")
	check("max timestamp", got, err, 5)
	got, err = adm.ListOffsetsAfterMilli(ctx, base.Add(25*time.Second).UnixMilli(), "lo")
	check("after +25s", got, err, 3)
	got, err = adm.ListOffsetsAfterMilli(ctx, base.UnixMilli(), "lo")
	check("at the first", got, err, 0)
	got, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "lo")
	check("after everything", got, err, 10) // kadm maps "none" to the end offset
}

// TestRetentionDeletesOldSegments writes records stamped an hour ago into
// small segments; time retention must delete every closed segment and
// advance the log start, and size retention must cap the log.
func TestRetentionDeletesOldSegments(t *testing.T) {
	tn := startNode(t, "", map[string]string{"log.retention.check.interval.ms": "100"})
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "old", 1, map[string]*string{"segment.bytes": ptr("2000"), "retention.ms": ptr("600000")})
	createTopic(t, adm, "big", 1, map[string]*string{"segment.bytes": ptr("2000"), "retention.bytes": ptr("6000")})
	cl := newClient(t, tn.KafkaAddr(), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 60; i++ {
		for _, topic := range []string{"old", "big"} {
			value := make([]byte, 500)
			rand.Read(value) // incompressible, so sizes are what they seem
			r := &kgo.Record{Topic: topic, Value: value, Timestamp: old}
			if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "time retention to delete the old segments", func() bool {
		o, err := adm.ListStartOffsets(testContext(t), "old")
		return err == nil && o["old"][0].Offset == 60
	})
	waitFor(t, "size retention to cap the log", func() bool {
		return dirSize(t, filepath.Join(tn.dir, "logs", "big-0"), ".log") <= 6000+2000
	})
	o, err := adm.ListStartOffsets(testContext(t), "big")
	if err != nil || o["big"][0].Offset == 0 {
		t.Fatalf("size retention left the log start at %v (%v)", o["big"][0].Offset, err)
	}
	// The log keeps working after its segments are gone.
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "old", Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if recs := consumeAll(t, tn.KafkaAddr(), "old", 1); string(recs[0].Value) != "new" || recs[0].Offset != 60 {
		t.Fatalf("after retention read %q at %d", recs[0].Value, recs[0].Offset)
	}
}

func dirSize(t *testing.T, dir, suffix string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			info, err := e.Info()
			if err == nil {
				n += info.Size()
			}
		}
	}
	return n
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForUpTo(t, 30*time.Second, what, cond)
}

// waitForUpTo is waitFor with its own deadline.
func waitForUpTo(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeleteRecords advances the log start and checks that consumers
// start from it.
func TestDeleteRecords(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "dr", 1, map[string]*string{"segment.bytes": ptr("1000")})
	cl := newClient(t, tn.KafkaAddr(), kgo.MaxBufferedRecords(1))
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "dr", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 30})
	res, err := adm.DeleteRecords(testContext(t), offsets)
	if err != nil || res.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, res.Error())
	}
	if lw := res["dr"][0].LowWatermark; lw != 30 {
		t.Fatalf("low watermark %d, want 30", lw)
	}
	recs := consumeAll(t, tn.KafkaAddr(), "dr", 20)
	if recs[0].Offset != 30 || string(recs[0].Value) != "30" {
		t.Fatalf("first record after DeleteRecords: offset %d value %q", recs[0].Offset, recs[0].Value)
	}
	offsets = kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 51})
	res, err = adm.DeleteRecords(testContext(t), offsets)
	if err != nil || !errors.Is(res["dr"][0].Err, kerr.OffsetOutOfRange) {
		t.Fatalf("DeleteRecords past the end: %v %v", err, res["dr"][0].Err)
	}
}

// TestConfigsRoundTrip sets configs at creation, reads them back with their
// sources, alters them incrementally and wholesale, and refuses bad ones.
func TestConfigsRoundTrip(t *testing.T) {
	tn := startNode(t, "", map[string]string{"log.segment.bytes": "5000000"})
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "cfg", 2, map[string]*string{"retention.ms": ptr("3600000"), "cleanup.policy": ptr("delete")})
	ctx := testContext(t)
	want := func(key, value string, source string) {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == key {
				if c.MaybeValue() != value || c.Source.String() != source {
					t.Fatalf("%s = %q from %s, want %q from %s", key, c.MaybeValue(), c.Source, value, source)
				}
				return
			}
		}
		t.Fatalf("%s not described", key)
	}
	want("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG")
	want("segment.bytes", "5000000", "STATIC_BROKER_CONFIG")
	want("max.message.bytes", "1048588", "DEFAULT_CONFIG")

	alter := func(ops ...kadm.AlterConfig) error {
		res, err := adm.AlterTopicConfigs(ctx, ops, "cfg")
		if err != nil {
			return err
		}
		return res[0].Err
	}
	if err := alter(kadm.AlterConfig{Name: "retention.ms", Value: ptr("7200000")}, kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: ptr("compact,delete")}); err != nil {
		t.Fatal(err)
	}
	want("retention.ms", "7200000", "DYNAMIC_TOPIC_CONFIG")
	want("cleanup.policy", "compact,delete", "DYNAMIC_TOPIC_CONFIG")
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
		t.Fatal(err)
	}
	want("retention.ms", "604800000", "DEFAULT_CONFIG")
	for _, bad := range []kadm.AlterConfig{
		{Name: "retention.ms", Value: ptr("soon")},
		{Name: "no.such.config", Value: ptr("1")},
		{Name: "cleanup.policy", Value: ptr("shred")},
		{Name: "message.timestamp.type", Value: ptr("WallTime")},
	} {
		if err := alter(bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%s=%s: got %v, want INVALID_CONFIG", bad.Name, *bad.Value, err)
		}
	}
	want("cleanup.policy", "compact,delete", "DYNAMIC_TOPIC_CONFIG")
	// Wholesale AlterConfigs replaces every override.
	res, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: ptr("60000")}}, "cfg")
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterConfigs: %v %v", err, res[0].Err)
	}
	want("segment.ms", "60000", "DYNAMIC_TOPIC_CONFIG")
	want("cleanup.policy", "delete", "DEFAULT_CONFIG")
}

// TestTopicAdmin covers create, duplicate, invalid names and shapes,
// partition growth, listing and deletion.
func TestTopicAdmin(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	ctx := testContext(t)
	createTopic(t, adm, "a", 2, nil)
	for _, c := range []struct {
		name       string
		partitions int32
		rf         int16
		want       *kerr.Error
	}{
		{"a", 1, 1, kerr.TopicAlreadyExists},
		{"bad/name", 1, 1, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), 1, 1, kerr.InvalidTopicException},
		{"zero", 0, 1, kerr.InvalidPartitions},
		{"rf3", 1, 3, kerr.InvalidReplicationFactor},
	} {
		res, err := adm.CreateTopic(ctx, c.partitions, c.rf, nil, c.name)
		if err == nil {
			err = res.Err
		}
		if !errors.Is(err, c.want) {
			t.Errorf("create %q p=%d rf=%d: got %v, want %v", c.name, c.partitions, c.rf, err, c.want)
		}
	}
	res, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "validated")
	if err != nil || res.Error() != nil {
		t.Fatalf("validate-only create: %v %v", err, res.Error())
	}
	if _, err := adm.CreatePartitions(ctx, 3, "a"); err != nil {
		t.Fatal(err)
	}
	cres, err := adm.UpdatePartitions(ctx, 2, "a")
	if err != nil || !errors.Is(cres["a"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking partitions: %v %v", err, cres["a"].Err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(td) != 1 || len(td["a"].Partitions) != 5 {
		t.Fatalf("topics after growth: %v", td.Names())
	}
	cl := newClient(t, tn.KafkaAddr())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("producing to a new partition: %v", err)
	}
	dres, err := adm.DeleteTopics(ctx, "a", "never")
	if err != nil || dres["a"].Err != nil || !errors.Is(dres["never"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete: %v %v %v", err, dres["a"].Err, dres["never"].Err)
	}
	if _, err := os.Stat(filepath.Join(tn.dir, "logs", "a-0")); !os.IsNotExist(err) {
		t.Fatalf("deleted topic's log directory remains: %v", err)
	}
	td, _ = newAdmin(t, tn.KafkaAddr()).ListTopics(ctx) // a new client: kadm caches metadata
	if len(td) != 0 {
		t.Fatalf("topics after delete: %v", td.Names())
	}
}
