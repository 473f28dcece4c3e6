package node_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDataSurvivesCleanRestart writes, stops the node, starts it on the same
// directory and reads everything back; producer IDs keep growing.
func TestDataSurvivesCleanRestart(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "keep", 3, map[string]*string{"retention.ms": ptr("-1")})
	want := produceNumbered(t, newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("keep")), "keep", 500)
	dir := tn.dir
	tn.stop(t)

	again := startNode(t, dir, nil)
	checkSameRecords(t, want, consumeAll(t, again.KafkaAddr(), "keep", len(want)))
	rcs, err := newAdmin(t, again.KafkaAddr()).DescribeTopicConfigs(testContext(t), "keep")
	if err != nil {
		t.Fatal(err)
	}
	if rcs[0].Err != nil || !hasConfig(rcs[0].Configs, "retention.ms", "-1") {
		t.Fatalf("topic config lost across restart: %v", rcs[0].Err)
	}
	// The same idempotent producer ID must not be handed out again: a new
	// producer's records must append, not be taken for duplicates.
	more := produceNumbered(t, newClient(t, again.KafkaAddr(), kgo.DefaultProduceTopic("keep")), "keep", 10)
	if got := consumeAll(t, again.KafkaAddr(), "keep", len(want)+len(more)); len(got) != len(want)+len(more) {
		t.Fatalf("after restart the log holds %d records, want %d", len(got), len(want)+len(more))
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.MaybeValue() == value {
			return true
		}
	}
	return false
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// eddyBinary builds cmd/eddy once per test run.
func eddyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "eddy-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "eddy")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/eddy").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// childBroker is an eddy serve process.
type childBroker struct {
	cmd  *exec.Cmd
	addr string
	log  *syncBuffer
}

func startChild(t *testing.T, dir string, args ...string) *childBroker {
	t.Helper()
	return startChildAt(t, dir, freeAddr(t), args...)
}

// startChildAt starts a child broker listening on addr, so that a restart
// can come back where its clients expect it.
func startChildAt(t *testing.T, dir, addr string, args ...string) *childBroker {
	t.Helper()
	return runChild(t, addr, exec.Command(eddyBinary(t), serveArgs(dir, addr, args...)...), 30*time.Second)
}

// serveArgs are the arguments of eddy serve on dir and addr, then args.
func serveArgs(dir, addr string, args ...string) []string {
	return append([]string{"serve", "--data-dir", dir, "--kafka-addr", addr, "--http-addr", ""}, args...)
}

// limitedCommand runs bin with args under `ulimit -n nofile`, which sets
// the hard limit too, so Go cannot raise it.
func limitedCommand(nofile int, bin string, args ...string) *exec.Cmd {
	return exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), bin}, args...)...)
}

// runChild starts cmd, a child broker that will listen on addr, and waits
// up to wait for it to accept connections.
func runChild(t *testing.T, addr string, cmd *exec.Cmd, wait time.Duration) *childBroker {
	t.Helper()
	cb := spawnChild(t, addr, cmd)
	cb.waitListening(t, wait)
	return cb
}

// spawnChild starts cmd, a child broker that will listen on addr, without
// waiting for it: cluster members start listening only once enough of
// them run to form the quorum.
func spawnChild(t *testing.T, addr string, cmd *exec.Cmd) *childBroker {
	t.Helper()
	cb := &childBroker{cmd: cmd, addr: addr, log: &syncBuffer{}}
	cb.cmd.Stdout, cb.cmd.Stderr = cb.log, cb.log
	if err := cb.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cb.kill()
		if t.Failed() {
			log := cb.log.String()
			t.Logf("child broker %s log:\n%s", addr, log[max(len(log)-8000, 0):])
		}
	})
	return cb
}

// waitListening waits up to wait for the child to accept connections.
func (cb *childBroker) waitListening(t *testing.T, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", cb.addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child broker did not listen within %v", wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (cb *childBroker) kill() {
	if cb.cmd.ProcessState == nil {
		cb.cmd.Process.Signal(syscall.SIGKILL)
		cb.cmd.Wait()
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAckedWritesSurviveKill9 kills a child broker with SIGKILL while a
// producer is writing at acks=all; every acknowledged record must be there
// after a restart, in order, with no gaps in what was acknowledged.
func TestAckedWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	cb := startChild(t, dir)
	createTopic(t, newAdmin(t, cb.addr), "durable", 2, nil)
	cl := newClient(t, cb.addr, kgo.DefaultProduceTopic("durable"), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(5*time.Second))
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprint(i)
			cl.Produce(testContext(t), &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = true
					mu.Unlock()
				}
			})
		}
	}()
	waitFor(t, "some acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	cb.kill()
	close(stop)
	wg.Wait()
	cl.Close()

	again := startChild(t, dir)
	mu.Lock()
	defer mu.Unlock()
	recs := consumeAll(t, again.addr, "durable", len(acked))
	have := map[string]bool{}
	for _, r := range recs {
		have[string(r.Value)] = true
	}
	var missing []string
	for v := range acked {
		if !have[v] {
			missing = append(missing, v)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged records lost after kill -9, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	// The log must take new writes after recovery.
	if err := newClient(t, again.addr).ProduceSync(testContext(t), &kgo.Record{Topic: "durable", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("producing after recovery: %v", err)
	}
}

// TestTornTailTruncatedOnStart kills a child broker, then cuts the active
// segment mid-batch and adds garbage, as a crash mid-write would; the node must start, serve exactly
// the whole batches before the tear, and append after them.
func TestTornTailTruncatedOnStart(t *testing.T) {
	for _, damage := range []string{"cut", "garbage", "cut+garbage"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			cb := startChild(t, dir)
			createTopic(t, newAdmin(t, cb.addr), "torn", 1, nil)
			cl := newClient(t, cb.addr, kgo.MaxBufferedRecords(1))
			for i := 0; i < 10; i++ {
				if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "torn", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cl.Close()
			cb.kill() // a crash: no clean shutdown marker
			seg := activeSegment(t, filepath.Join(dir, "logs", "torn-0"))
			damageFile(t, seg, damage)

			again := startNode(t, dir, nil)
			recs := consumeAll(t, again.KafkaAddr(), "torn", 9)
			for i, r := range recs {
				if string(r.Value) != fmt.Sprint(i) {
					t.Fatalf("offset %d holds %q", r.Offset, r.Value)
				}
			}
			end, err := newAdmin(t, again.KafkaAddr()).ListEndOffsets(testContext(t), "torn")
			if err != nil {
				t.Fatal(err)
			}
			want := int64(9)
			if damage == "garbage" {
				want = 10
			}
			if got := end["torn"][0].Offset; got != want {
				t.Fatalf("end offset after recovery %d, want %d", got, want)
			}
			if err := newClient(t, again.KafkaAddr()).ProduceSync(testContext(t), &kgo.Record{Topic: "torn", Value: []byte("next")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			last := consumeAll(t, again.KafkaAddr(), "torn", int(want)+1)
			if v := last[len(last)-1]; string(v.Value) != "next" || v.Offset != want {
				t.Fatalf("append after recovery landed at %d as %q", v.Offset, v.Value)
			}
		})
	}
}

func activeSegment(t *testing.T, dir string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(matches)
	return matches[len(matches)-1]
}

func damageFile(t *testing.T, path, how string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(how, "cut") {
		if err := os.Truncate(path, info.Size()-5); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(how, "garbage") {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		w.WriteString("\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x01\x00garbage that is not a batch")
		w.Flush()
		f.Close()
	}
}

// TestSigtermShutsDownCleanly stops a child broker with SIGTERM: it must exit
// with status 0, log its shutdown, and start again with the data intact.
func TestSigtermShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	cb := startChild(t, dir)
	createTopic(t, newAdmin(t, cb.addr), "term", 1, nil)
	want := produceNumbered(t, newClient(t, cb.addr, kgo.DefaultProduceTopic("term")), "term", 100)
	if err := cb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cb.cmd.Wait(); err != nil {
		t.Fatalf("broker exit after SIGTERM: %v", err)
	}
	if !strings.Contains(cb.log.String(), "eddy node stopped") {
		t.Fatalf("no clean shutdown in the log:\n%s", cb.log.String())
	}
	again := startChild(t, dir)
	checkSameRecords(t, want, consumeAll(t, again.addr, "term", len(want)))
}
