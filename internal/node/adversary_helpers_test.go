package node_test

// The adversary suite (adversary_*_test.go) attacks a live in-process node
// the way a hostile client or an unlucky operator would, then checks the
// node is still healthy. Every test is named TestAdversary<Area>/<case> so
// one case can be run alone. Randomness comes from a seed derived from
// EDDY_ADVERSARY_SEED (default 1) and the test's name, printed by each
// test, so a failure replays with the same seed and -run pattern.
//
// Cases that failed before issue 8's fixes, and the fix each one checks
// ("found" marks defects this suite found, fixed with it):
//
//	TestAdversaryBatch/plain/{gzip,snappy,lz4,zstd}      item 1 (poison compressed batch stored)
//	TestAdversaryBatch/*/none (when a control batch is drawn) item 1 (control flag from a plain producer)
//	TestAdversaryExhaust/metadata-autocreate-fd-limit    item 2 (listener dies on EMFILE)
//	TestAdversaryExhaust/create-partitions-fd-limit      item 2 (half-made topic)
//	TestAdversaryEdge/tiny-segments-fd-limit             items 2 and 7 (log stays failed)
//	TestAdversaryExhaust/metadata-many-names             item 3 (decode amplification)
//	TestAdversaryExhaust/pipelined-produce-no-read       item 3 (queued.max.request.bytes)
//	TestAdversaryExhaust/huge-declared-sizes             item 4 (frames allocated at declared size)
//	TestAdversaryExhaust/partial-frame-idle              items 4 and 8 (connections.max.idle.ms)
//	TestAdversaryCorrupt/{data,table}-log/flip*          item 6 (CRC-failing batch served)
//	TestAdversaryCorrupt/data-timeindex/delete           item 6 (time index not rebuilt)
//	TestAdversaryEdge/internal-topic-grow                found: growing __consumer_offsets lost commits (now refused)
//	TestAdversaryEdge/producer-ids-deleted               found: producer ids reused, writes dropped
//	TestAdversaryCorrupt/meta-producer-ids/delete        found: same cause

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const advSeedEnv = "EDDY_ADVERSARY_SEED"

// advRand is the test's deterministic random source. The seed is printed
// so that a failure replays.
func advRand(t *testing.T) *rand.Rand {
	t.Helper()
	base := uint64(1)
	if s := os.Getenv(advSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", advSeedEnv, s, err)
		}
		base = v
	}
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	t.Logf("seed: %s=%d go test -run '^%s$' ./internal/node", advSeedEnv, base, regexpPath(t.Name()))
	return rand.New(rand.NewPCG(base, h.Sum64()))
}

// regexpPath turns a test name into a -run pattern matching only it.
func regexpPath(name string) string {
	parts := strings.Split(name, "/")
	return strings.Join(parts, "$/^")
}

// health checks a node between attacks: a fresh franz-go client can
// produce and consume a record, no handler panicked (recovered panics are
// bugs too), and goroutines and heap come back near where they started.
type health struct {
	tn         *testNode
	topic      string
	goroutines int
	heap       uint64
	panicsSeen int
	probes     int
}

// Generous bounds: the node may keep caches and idle connections, but an
// attack must not leave hundreds of goroutines or hundreds of MB behind.
const (
	healthGoroutineSlack = 200
	healthHeapSlack      = 256 << 20
)

func newHealth(t *testing.T, tn *testNode) *health {
	t.Helper()
	h := &health{tn: tn, topic: "adv-health"}
	res, err := newAdmin(t, tn.KafkaAddr()).CreateTopic(testContext(t), 1, 1, nil, h.topic)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("creating %s: %v", h.topic, err)
	}
	h.probe(t, "baseline")
	h.goroutines = runtime.NumGoroutine()
	h.heap = liveHeap()
	return h
}

// check fails the test if the node is unhealthy after stage.
func (h *health) check(t *testing.T, stage string) {
	t.Helper()
	h.checkPanics(t, stage)
	h.logErrors(t, stage)
	h.probe(t, stage)
	h.checkGoroutines(t, stage)
	if heap := liveHeap(); heap > h.heap+healthHeapSlack {
		t.Errorf("after %s: live heap %d MB, started at %d MB", stage, heap>>20, h.heap>>20)
	}
}

// checkPanics reports every "handler panicked" line the node logged since
// the last check.
func (h *health) checkPanics(t *testing.T, stage string) {
	t.Helper()
	lines := panicLines(h.tn.logs.String())
	for _, l := range lines[h.panicsSeen:] {
		t.Errorf("after %s: a handler panicked (recovered, still a bug): %s", stage, clip(l, 3000))
	}
	h.panicsSeen = len(lines)
}

// logErrors lists, once, each distinct ERROR message the node logged: not
// a failure by itself (a failed request may log one), but worth reading.
func (h *health) logErrors(t *testing.T, stage string) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range strings.Split(h.tn.logs.String(), "\n") {
		if !strings.Contains(l, "level=ERROR") {
			continue
		}
		msg := l
		if i := strings.Index(l, "msg="); i >= 0 {
			msg = l[i:]
		}
		seen[clip(msg, 200)]++
	}
	for m, n := range seen {
		t.Logf("after %s: node logged %d× ERROR %s", stage, n, m)
	}
}

func panicLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "handler panicked") {
			out = append(out, l)
		}
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// probe produces one record with a new client and reads it back.
func (h *health) probe(t *testing.T, stage string) {
	t.Helper()
	h.probes++
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.tn.KafkaAddr()), kgo.RetryTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := fmt.Sprintf("probe-%d", h.probes)
	res, err := cl.ProduceSync(ctx, &kgo.Record{Topic: h.topic, Value: []byte(want)}).First()
	if err != nil {
		t.Fatalf("after %s: node unhealthy, produce failed: %v", stage, err)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{h.topic: {0: kgo.NewOffset().At(res.Offset)}})
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after %s: node unhealthy, record at offset %d not consumed: %v", stage, res.Offset, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			t.Fatalf("after %s: node unhealthy, fetch failed: %v", stage, ferr)
		}
		for _, r := range fs.Records() {
			if r.Offset == res.Offset {
				if string(r.Value) != want {
					t.Fatalf("after %s: offset %d holds %q, produced %q", stage, r.Offset, r.Value, want)
				}
				return
			}
		}
	}
}

// checkGoroutines waits for the goroutine count to come back near its
// baseline: whatever an attack started must end once its connections do.
func (h *health) checkGoroutines(t *testing.T, stage string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= h.goroutines+healthGoroutineSlack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("after %s: %d goroutines, started with %d; stacks:\n%s", stage, n, h.goroutines, clip(goroutineSummary(string(buf)), 8000))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goroutineSummary counts goroutines by their top eddy frame.
func goroutineSummary(stacks string) string {
	counts := map[string]int{}
	for _, g := range strings.Split(stacks, "\n\n") {
		key := "other"
		for _, l := range strings.Split(g, "\n") {
			if strings.Contains(l, "eddy/internal/") && !strings.HasPrefix(l, "\t") {
				key = l
				break
			}
		}
		counts[key]++
	}
	var b strings.Builder
	for k, v := range counts {
		fmt.Fprintf(&b, "%6d %s\n", v, k)
	}
	return b.String()
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rawFrame builds a request frame with header v1, or v2 (an empty tagged
// field section after the client id) when flexible, around body.
func rawFrame(key, version int16, correlationID int32, flexible bool, body []byte) []byte {
	b := make([]byte, 4, 16+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "adv"...)
	if flexible {
		b = append(b, 0)
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// requestFrame encodes req at its set version.
func requestFrame(req kmsg.Request, correlationID int32) []byte {
	return rawFrame(req.Key(), req.GetVersion(), correlationID, req.IsFlexible(), req.AppendTo(nil))
}

// readResponse reads one response frame, returning its correlation id and
// the rest.
func readResponse(r io.Reader) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 256<<20 {
		return 0, nil, fmt.Errorf("response frame size %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

func dialRaw(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 5*time.Second)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rssKB reads a field (VmRSS, VmHWM) of this process's /proc status in kB.
func rssKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// resetPeakRSS resets VmHWM so that a later rssKB("VmHWM") is the peak of
// what came after.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
