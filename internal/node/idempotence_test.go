package node_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// produceRaw sends one batch to partition 0 of topic and returns the
// partition's answer.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	return recordtest.Batch(recordtest.Options{Producer: &recordtest.Producer{ID: pid, Epoch: epoch, Sequence: seq}}, recordtest.Values(n, 10))
}

// TestIdempotentSequences drives the sequence rules with hand-built
// batches: duplicates are answered with their first offset and not stored
// again; gaps, unknown producers and fenced epochs get Kafka's errors.
func TestIdempotentSequences(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "idem", 1, nil)
	cl := namedTopicsClient(t, tn.KafkaAddr())
	init, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testContext(t), cl)
	if err != nil || init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(init.ErrorCode))
	}
	pid := init.ProducerID
	steps := []struct {
		name       string
		batch      []byte
		wantErr    *kerr.Error
		wantOffset int64
	}{
		{"first batch", idempotentBatch(pid, 0, 0, 3), nil, 0},
		{"next batch", idempotentBatch(pid, 0, 3, 2), nil, 3},
		{"duplicate of the first", idempotentBatch(pid, 0, 0, 3), nil, 0},
		{"duplicate of the last", idempotentBatch(pid, 0, 3, 2), nil, 3},
		{"gap", idempotentBatch(pid, 0, 9, 1), kerr.OutOfOrderSequenceNumber, -1},
		{"unknown producer mid-sequence", idempotentBatch(pid+1000, 0, 5, 1), kerr.UnknownProducerID, -1},
		{"new epoch from zero", idempotentBatch(pid, 1, 0, 1), nil, 5},
		{"fenced old epoch", idempotentBatch(pid, 0, 5, 1), kerr.InvalidProducerEpoch, -1},
		{"new epoch not from zero", idempotentBatch(pid, 2, 7, 1), kerr.OutOfOrderSequenceNumber, -1},
	}
	for _, s := range steps {
		got := produceRaw(t, cl, "idem", s.batch)
		if err := kerr.ErrorForCode(got.ErrorCode); err != s.wantErr && !(s.wantErr == nil && err == nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if s.wantErr == nil && got.BaseOffset != s.wantOffset {
			t.Fatalf("%s: base offset %d, want %d", s.name, got.BaseOffset, s.wantOffset)
		}
	}
	if recs := consumeAll(t, tn.KafkaAddr(), "idem", 6); len(recs) != 6 {
		t.Fatalf("log holds %d records, want 6", len(recs))
	}
}

// TestBadBatchesRejected checks that a corrupt or malformed batch is refused
// with Kafka's code and that nothing of it is appended.
func TestBadBatchesRejected(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "bad", 1, nil)
	cl := namedTopicsClient(t, tn.KafkaAddr())
	good := recordtest.Batch(recordtest.Options{}, recordtest.Values(2, 10))
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0xff
	badMagic := append([]byte(nil), good...)
	badMagic[16] = 1
	cases := []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"bad crc", badCRC, kerr.CorruptMessage},
		{"truncated", good[:len(good)-3], kerr.CorruptMessage},
		{"old magic", badMagic, kerr.InvalidRecord},
		{"good then bad", append(append([]byte(nil), good...), badCRC...), kerr.CorruptMessage},
	}
	for _, c := range cases {
		got := produceRaw(t, cl, "bad", c.batch)
		if err := kerr.ErrorForCode(got.ErrorCode); err == nil || (err != c.want && !(c.want == kerr.CorruptMessage && err == kerr.InvalidRecord)) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if got := produceRaw(t, cl, "bad", good); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("good batch after bad ones: %v at %d, want offset 0 (nothing appended before)", kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
}

// TestIdempotentRetriesThroughCutConnections puts a proxy between client
// and broker that cuts the connection right after forwarding some produce
// requests, so the broker appends but the client never hears back and
// retries. Every record must still be stored exactly once, in order.
func TestIdempotentRetriesThroughCutConnections(t *testing.T) {
	p := newCuttingProxy(t)
	tn := startNode(t, "", nil, func(c *node.Config) { c.AdvertiseAddr = p.addr() })
	p.start(tn.KafkaAddr())
	createTopic(t, newAdmin(t, p.addr()), "retry", 1, nil)
	cl := newClient(t, p.addr(), kgo.DefaultProduceTopic("retry"), kgo.MaxBufferedRecords(50))
	const n = 2000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(testContext(t), &kgo.Record{Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d produces failed", failed.Load())
	}
	if p.cuts.Load() == 0 {
		t.Fatal("the proxy never cut a connection; the test proved nothing")
	}
	recs := consumeAll(t, tn.KafkaAddr(), "retry", n)
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("offset %d holds %q, want %d (duplicate or reordering after %d cuts)", r.Offset, r.Value, i, p.cuts.Load())
		}
	}
}

// cuttingProxy forwards Kafka frames and, every fifth produce request,
// closes the client connection after forwarding it upstream.
type cuttingProxy struct {
	ln       net.Listener
	upstream string
	produces atomic.Int64
	cuts     atomic.Int64
	wg       sync.WaitGroup
}

func newCuttingProxy(t *testing.T) *cuttingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// start forwards to upstream; the listener exists before, so the broker
// can be told to advertise it.
func (p *cuttingProxy) start(upstream string) {
	p.upstream = upstream
	p.wg.Add(1)
	go p.accept()
}

func (p *cuttingProxy) addr() string { return p.ln.Addr().String() }

func (p *cuttingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		go func() { defer p.wg.Done(); p.forward(c, up); up.Close() }()
	}
}

// forward copies request frames upstream, cutting after some produces.
func (p *cuttingProxy) forward(c, up net.Conn) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
		copy(frame, size[:])
		if _, err := io.ReadFull(c, frame[4:]); err != nil {
			return
		}
		if _, err := up.Write(frame); err != nil {
			return
		}
		if int16(binary.BigEndian.Uint16(frame[4:])) == kmsg.Produce.Int16() && p.produces.Add(1)%5 == 0 {
			p.cuts.Add(1)
			return
		}
	}
}
