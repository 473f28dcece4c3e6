package node_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCorruptSegmentNeverDelivered flips one byte in a closed segment of
// a stopped node: after the restart the damaged batch is never delivered,
// the node logs where the damage is, the partition answers
// KAFKA_STORAGE_ERROR and the topic's other partition keeps working.
func TestCorruptSegmentNeverDelivered(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "flip", 2, map[string]*string{"segment.bytes": ptr("4000")})
	cl := newClient(t, tn.KafkaAddr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 40 { // one batch per partition and call: many segments
		var recs []*kgo.Record
		for j := range 10 {
			for p := range int32(2) {
				recs = append(recs, &kgo.Record{Topic: "flip", Partition: p, Value: []byte(fmt.Sprintf("record %d-%d %s", i, j, strings.Repeat("x", 50)))})
			}
		}
		if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	dir := tn.dir
	tn.stop(t)

	segs, _ := filepath.Glob(filepath.Join(dir, "logs", "flip-0", "*.log"))
	if len(segs) < 2 {
		t.Fatalf("%d segments, want closed ones", len(segs))
	}
	first, last := flipSecondBatch(t, segs[0])

	again := startNode(t, dir, nil)
	consumer := newClient(t, again.KafkaAddr(), kgo.ConsumeTopics("flip"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32]int{}
	deadline := time.Now().Add(30 * time.Second)
	for got[1] < 400 || !strings.Contains(again.logs.String(), "corrupt batch on disk") {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %v; partition 1 incomplete or corruption not logged", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := consumer.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Partition == 0 && r.Offset >= first {
				t.Fatalf("delivered offset %d of partition 0; the batch %d..%d is damaged", r.Offset, first, last)
			}
			got[r.Partition]++
		})
	}
	if log := again.logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, filepath.Base(segs[0])) {
		t.Fatalf("corruption not logged with its file:\n%s", log)
	}
	ends, err := newAdmin(t, again.KafkaAddr()).ListEndOffsets(testContext(t), "flip")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("flip", 0); !errors.Is(o.Err, kerr.KafkaStorageError) {
		t.Fatalf("ListOffsets of the damaged partition: %v", o.Err)
	}
	if o, _ := ends.Lookup("flip", 1); o.Err != nil || o.Offset != 400 {
		t.Fatalf("ListOffsets of the healthy partition: %d %v", o.Offset, o.Err)
	}
}

// flipSecondBatch flips a byte in the records of the segment's second
// batch and returns its first and last offsets.
func flipSecondBatch(t *testing.T, path string) (int64, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pos := 12 + int(binary.BigEndian.Uint32(b[8:]))
	if pos+100 > len(b) {
		t.Fatalf("segment of %d bytes has no second batch", len(b))
	}
	base := int64(binary.BigEndian.Uint64(b[pos:]))
	last := base + int64(binary.BigEndian.Uint32(b[pos+23:]))
	b[pos+90] ^= 0x08
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return base, last
}
