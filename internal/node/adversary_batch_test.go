package node_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/record"
)

// batchMutationsPerCodec is how many mutated batches each codec and topic
// kind gets.
const batchMutationsPerCodec = 24

// TestAdversaryBatch produces record batches whose header fields or
// (compressed) payload were mutated and whose CRC was then recomputed, so
// the mutation reaches the broker's validation instead of being stopped by
// the CRC. For every codec, to a plain and a compacted topic (whose
// cleaner decodes what it stores): no handler may panic, every accepted
// batch must be readable by franz-go (a batch it cannot decode stalls every
// consumer: item 1), the log end may move only by the records actually
// sent, the cleaner must keep cleaning, and a restart must keep it all.
func TestAdversaryBatch(t *testing.T) {
	for _, kind := range []string{"plain", "compact"} {
		for _, codec := range []record.Codec{record.None, record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
			t.Run(fmt.Sprintf("%s/%s", kind, codecName(codec)), func(t *testing.T) { batchCase(t, kind, codec) })
		}
	}
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprint(code)
}

func codecName(c record.Codec) string {
	return [...]string{"none", "gzip", "snappy", "lz4", "zstd"}[c]
}

// batchRecords is the records one batch carries.
const batchRecords = 5

func batchCase(t *testing.T, kind string, codec record.Codec) {
	rng := advRand(t)
	tn := startNode(t, "", map[string]string{"log.cleaner.backoff.ms": "100"})
	configs := map[string]*string{}
	if kind == "compact" {
		configs = map[string]*string{"cleanup.policy": ptr("compact"), "segment.bytes": ptr("2048"), "segment.ms": ptr("300"), "min.cleanable.dirty.ratio": ptr("0.01")}
	}
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "poison", 1, configs)
	cl := rawClient(t, tn.KafkaAddr())
	accepted, codes := 0, map[string]int{}
	for i := range batchMutationsPerCodec {
		b, what := mutatedBatch(rng, codec, i)
		p := rawProduce(t, cl, "poison", b)
		codes[errName(p.ErrorCode)]++
		if p.ErrorCode == 0 {
			accepted++
			t.Logf("accepted mutated batch %d (%s) at offset %d", i, what, p.BaseOffset)
			if a := int16(binary.BigEndian.Uint16(b[21:])); a&0x30 != 0 && int64(binary.BigEndian.Uint64(b[43:])) < 0 {
				t.Errorf("accepted a batch with attributes %#x (control or transactional) from a plain producer (item 1)", a)
			}
		} else {
			t.Logf("refused mutated batch %d (%s): %s", i, what, errName(p.ErrorCode))
		}
	}
	t.Logf("%d mutated %s batches: %v", batchMutationsPerCodec, codecName(codec), codes)
	end := listOffset(t, cl, "poison", -1)
	if max := int64(accepted * batchRecords); end > max {
		t.Errorf("log end offset %d after %d accepted batches of %d records: a batch claimed offsets it does not hold", end, accepted, batchRecords)
	}
	consumeToEnd(t, tn.KafkaAddr(), "poison", end)
	if kind == "compact" && accepted > 0 {
		checkCleanerRuns(t, tn, cl)
	}
	noPanics(t, tn)
	again := restart(t, tn)
	if got := listOffset(t, rawClient(t, again.KafkaAddr()), "poison", -1); got < end {
		t.Errorf("restart lost accepted records: end offset %d, was %d", got, end)
	}
	consumeToEnd(t, again.KafkaAddr(), "poison", end)
	newHealth(t, again).check(t, "mutated batches")
	noPanics(t, again)
}

// mutatedBatch builds a valid batch of batchRecords keyed records, applies
// the i-th kind of mutation, and fixes up length and CRC.
func mutatedBatch(rng *rand.Rand, codec record.Codec, i int) ([]byte, string) {
	recs := make([]record.Record, batchRecords)
	for j := range recs {
		recs[j] = record.Record{OffsetDelta: int32(j), Key: []byte(fmt.Sprintf("k%d", j%3)), Value: []byte(strings.Repeat("v", 20+j))}
	}
	now := time.Now().UnixMilli()
	h := record.BatchHeader{Attributes: int16(codec), LastOffsetDelta: batchRecords - 1, BaseTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	b, err := record.Rebuild(h, recs)
	if err != nil {
		panic(err)
	}
	be := binary.BigEndian
	var what string
	switch i % 8 {
	case 0: // payload bits: compressed garbage, or a record's framing
		for range 1 + rng.IntN(3) {
			at := record.HeaderSize + rng.IntN(len(b)-record.HeaderSize)
			b[at] ^= 1 << rng.IntN(8)
		}
		what = "payload bit flips"
	case 1: // attributes: control, transactional, timestamp type, bad codecs
		attrs := []uint16{0x20, 0x10, 0x30, 0x08, 5, 6, 7, 0x40, 0xffff, uint16(codec) | 0x20}
		a := attrs[rng.IntN(len(attrs))]
		be.PutUint16(b[21:], a)
		what = fmt.Sprintf("attributes %#x", a)
	case 2: // lastOffsetDelta
		vals := []uint32{0x7fffffff, 0xffffffff, 0, batchRecords, 1000}
		v := vals[rng.IntN(len(vals))]
		be.PutUint32(b[23:], v)
		what = fmt.Sprintf("lastOffsetDelta %d", int32(v))
	case 3: // record count
		vals := []uint32{0x7fffffff, 0xffffffff, 0, batchRecords + 1, batchRecords - 1}
		v := vals[rng.IntN(len(vals))]
		be.PutUint32(b[57:], v)
		what = fmt.Sprintf("numRecords %d", int32(v))
	case 4: // payload truncated
		b = b[:record.HeaderSize+rng.IntN(len(b)-record.HeaderSize)]
		what = fmt.Sprintf("payload cut to %d bytes", len(b)-record.HeaderSize)
	case 5: // producer fields without a producer id
		be.PutUint64(b[43:], uint64(rng.Int64N(1000)))
		be.PutUint16(b[51:], uint16(rng.IntN(3)))
		be.PutUint32(b[53:], uint32(rng.IntN(5)))
		what = "producer fields of an unknown producer"
	case 6: // magic
		b[16] = byte(rng.IntN(2))
		what = fmt.Sprintf("magic %d", b[16])
	case 7: // payload bytes appended
		extra := make([]byte, 1+rng.IntN(16))
		for j := range extra {
			extra[j] = byte(rng.UintN(256))
		}
		b = append(b, extra...)
		what = fmt.Sprintf("%d bytes appended to the payload", len(extra))
	}
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], record.Checksum(b))
	return b, what
}

// consumeToEnd reads topic's partition 0 from the start to end, decoding
// every batch (all codecs) as a client must, then polls it with franz-go:
// a batch that does not decode stalls every consumer at its offset.
func consumeToEnd(t *testing.T, addr, topic string, end int64) {
	t.Helper()
	if end <= 0 {
		return
	}
	if _, _, err := readRaw(t, rawClient(t, addr), topic); err != nil {
		t.Errorf("reading %s: %v", topic, err)
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		// Control batches yield no records, so the end may never show;
		// what matters is that no fetch fails.
		cl.PollFetches(ctx).EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("franz-go consumer of %s: %v (a stored batch no client can read stalls every consumer)", topic, err)
				cancel()
			}
		})
	}
}

// checkCleanerRuns rolls the compacted topic's segment with a sentinel and
// waits for the cleaner to clean past it: mutated batches must not stop it.
func checkCleanerRuns(t *testing.T, tn *testNode, cl *kgo.Client) {
	t.Helper()
	time.Sleep(400 * time.Millisecond) // segment.ms must pass; the node has no hook to roll
	sentinel := record.Build(time.Now().UnixMilli(), []record.Record{{Key: []byte("sentinel"), Value: []byte("s")}})
	p := rawProduce(t, cl, "poison", sentinel)
	if p.ErrorCode != 0 {
		t.Fatalf("sentinel: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	deadline := time.Now().Add(20 * time.Second)
	for cleanedTo(tn, "poison") < p.BaseOffset {
		if time.Now().After(deadline) {
			t.Errorf("the cleaner did not clean the compacted topic up to %d in 20 s (cleaned to %d)", p.BaseOffset, cleanedTo(tn, "poison"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
