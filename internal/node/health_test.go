package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/cluster"
	"github.com/eddy-streaming/eddy/internal/netfault"
	"github.com/eddy-streaming/eddy/internal/node"
)

// probe GETs path on the HTTP listener at addr, with basic auth when user
// is set, and returns the status and body; status 0 if nothing answers.
func probe(t *testing.T, addr, path, user, password string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// wantProbe checks that path answers status with body.
func wantProbe(t *testing.T, addr, path string, status int, body string) {
	t.Helper()
	if gotStatus, got := probe(t, addr, path, "", ""); gotStatus != status || got != body {
		t.Errorf("GET %s: %d %q, want %d %q", path, gotStatus, got, status, body)
	}
}

// scrapeReady is eddy_ready as /metrics at addr reports it.
func scrapeReady(t *testing.T, addr, user, password string) float64 {
	t.Helper()
	status, body := probe(t, addr, "/metrics", user, password)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	f, ok := parseExposition(t, strings.NewReader(body+"\n"))["eddy_ready"]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("/metrics has no eddy_ready: %v", f)
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}

// TestReadyzThroughStartPhases holds a restarting node (SASL on, so the
// HTTP listener wants basic auth) in two start phases (node.SetPhaseHook):
// /healthz answers ok and /readyz the phase, without credentials; /metrics,
// which needs the users, answers 503 until the metadata is open, then
// eddy_ready 0; once started, /readyz answers ok and eddy_ready is 1. The
// log records each phase, in order.
func TestReadyzThroughStartPhases(t *testing.T) {
	settings := map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-512"}
	dir := t.TempDir()
	first := startNode(t, dir, settings, withBootstrapUser) // creates the user
	first.stop(t)

	type stop struct {
		reason  string
		release chan struct{}
	}
	stops := make(chan stop)
	node.SetPhaseHook(t, func(d, reason string) {
		if d == dir && (reason == "opening metadata" || reason == "recovering logs") {
			s := stop{reason, make(chan struct{})}
			stops <- s
			<-s.release
		}
	})
	addr := freeAddr(t)
	logs := &syncBuffer{}
	started := make(chan error, 1)
	var n *node.Node
	go func() {
		var err error
		n, err = node.Start(context.Background(), node.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0", HTTPAddr: addr,
			NodeID: 1, Settings: settings, BootstrapUser: "admin:admin-secret", Logger: slog.New(slog.NewTextHandler(logs, nil))})
		started <- err
	}()
	next := func(want string) stop {
		t.Helper()
		select {
		case s := <-stops:
			if s.reason != want {
				t.Fatalf("start phase %q, want %q", s.reason, want)
			}
			return s
		case err := <-started:
			t.Fatalf("node started without passing %q: %v", want, err)
		}
		panic("unreachable")
	}

	s := next("opening metadata")
	wantProbe(t, addr, "/healthz", http.StatusOK, "ok")
	wantProbe(t, addr, "/readyz", http.StatusServiceUnavailable, "not ready: opening metadata")
	if status, body := probe(t, addr, "/metrics", "admin", "admin-secret"); status != http.StatusServiceUnavailable {
		t.Errorf("/metrics before the users are loaded: %d %q, want 503", status, body)
	}
	close(s.release)

	s = next("recovering logs")
	wantProbe(t, addr, "/healthz", http.StatusOK, "ok")
	wantProbe(t, addr, "/readyz", http.StatusServiceUnavailable, "not ready: recovering logs")
	if got := scrapeReady(t, addr, "admin", "admin-secret"); got != 0 {
		t.Errorf("eddy_ready while recovering: %v, want 0", got)
	}
	close(s.release)
	if err := <-started; err != nil {
		t.Fatalf("starting node: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { n.Close() })
	wantProbe(t, addr, "/readyz", http.StatusOK, "ok")
	wantProbe(t, addr, "/healthz", http.StatusOK, "ok")
	if got := scrapeReady(t, addr, "admin", "admin-secret"); got != 1 {
		t.Errorf("eddy_ready once started: %v, want 1", got)
	}
	if status, _ := probe(t, addr, "/metrics", "", ""); status != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", status)
	}
	want := []string{"opening metadata", "recovering logs", "starting the broker", "ready"}
	if got := readinessLog(logs.String()); !slices.Equal(got, want) {
		t.Errorf("readiness logged as %q, want %q", got, want)
	}
}

// readyLine is a readiness log line in slog's text format.
var readyLine = regexp.MustCompile(`msg="node (?:not ready" reason="([^"]*)"|ready")`)

// readinessLog is the readiness changes a text log records, "ready" for
// the node becoming ready.
func readinessLog(log string) []string {
	var out []string
	for _, m := range readyLine.FindAllStringSubmatch(log, -1) {
		if m[1] == "" {
			out = append(out, "ready")
		} else {
			out = append(out, m[1])
		}
	}
	return out
}

// TestReadyzAfterKill9 fills a standalone node's logs, kills it with
// SIGKILL and restarts it, asking /readyz from the moment the HTTP port
// answers: every answer until ready is 503 with a start phase's reason,
// in start order, and the node's log records that it recovered its logs
// before it became ready. (Whether a probe lands while the logs recover
// depends on timing; the log's order does not.)
func TestReadyzAfterKill9(t *testing.T) {
	dir, kafka, addr := t.TempDir(), stableAddr(t), stableAddr(t)
	cb := startChildAt(t, dir, kafka, "--http-addr", addr)
	cl := newClient(t, kafka, kgo.ProducerLinger(5*time.Millisecond))
	createTopic(t, kadm.NewClient(cl), "recover", 32, nil)
	value := make([]byte, 1000)
	for i := range 20000 {
		cl.Produce(testContext(t), &kgo.Record{Topic: "recover", Partition: int32(i % 32), Value: value}, nil)
	}
	if err := cl.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	cb.kill()

	cb = spawnChild(t, kafka, exec.Command(eddyBinary(t), serveArgs(dir, kafka, "--http-addr", addr)...))
	order := []string{"starting", "opening metadata", "recovering logs", "starting the broker", "ok"}
	var seen []string
	waitForUpTo(t, 60*time.Second, "/readyz to answer ok", func() bool {
		status, body := probe(t, addr, "/readyz", "", "")
		if status == 0 {
			return false // not listening yet
		}
		reason := strings.TrimPrefix(body, "not ready: ")
		if (status == http.StatusOK) != (reason == "ok") || !slices.Contains(order, reason) {
			t.Fatalf("/readyz during the restart: %d %q", status, body)
		}
		if len(seen) == 0 || seen[len(seen)-1] != reason {
			seen = append(seen, reason)
		}
		return status == http.StatusOK
	})
	t.Logf("/readyz answers seen during the restart: %q", seen)
	if !slices.IsSortedFunc(seen, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) }) {
		t.Errorf("/readyz answers out of start order: %q", seen)
	}
	waitFor(t, "the node's log to record it ready", func() bool { return strings.Contains(cb.log.String(), `msg="node ready"`) })
	want := []string{"opening metadata", "recovering logs", "starting the broker", "ready"}
	if got := readinessLog(cb.log.String()); !slices.Equal(got, want) {
		t.Errorf("readiness logged as %q, want %q", got, want)
	}
}

// TestReadyzWaitsForQuorum starts one voter of three alone: alive, but
// not ready while there is no quorum leader; once the others start, every
// node is ready.
func TestReadyzWaitsForQuorum(t *testing.T) {
	c := &procCluster{t: t, sets: slices.Clone(clusterTestSettings)}
	var httpAddrs []string
	for i := range 3 {
		c.voters = append(c.voters, fmt.Sprintf("%d@%s", i+1, stableAddr(t)))
		c.kafka = append(c.kafka, stableAddr(t))
		c.dirs = append(c.dirs, t.TempDir())
		httpAddrs = append(httpAddrs, stableAddr(t))
	}
	c.nodeArgs = func(i int) []string { return []string{"--http-addr", httpAddrs[i]} }
	c.nodes = make([]*childBroker, 3)
	c.start(0)
	waitForUpTo(t, 60*time.Second, "node 1 to wait for a quorum leader", func() bool {
		_, body := probe(t, httpAddrs[0], "/readyz", "", "")
		return body == "not ready: waiting for the metadata quorum (no leader)"
	})
	wantProbe(t, httpAddrs[0], "/healthz", http.StatusOK, "ok")
	wantProbe(t, httpAddrs[0], "/readyz", http.StatusServiceUnavailable, "not ready: waiting for the metadata quorum (no leader)")
	if got := scrapeReady(t, httpAddrs[0], "", ""); got != 0 {
		t.Errorf("eddy_ready without a quorum: %v, want 0", got)
	}
	c.start(1)
	c.start(2)
	for i, a := range httpAddrs {
		waitForUpTo(t, 60*time.Second, fmt.Sprintf("node %d to be ready", i+1), func() bool {
			status, _ := probe(t, a, "/readyz", "", "")
			return status == http.StatusOK
		})
	}
	c.waitLive()
	if got := scrapeReady(t, httpAddrs[0], "", ""); got != 1 {
		t.Errorf("eddy_ready in the formed cluster: %v, want 1", got)
	}
	waitFor(t, "node 1's log to record it ready", func() bool { return strings.Contains(c.nodes[0].log.String(), `msg="node ready"`) })
	got := readinessLog(c.nodes[0].log.String())
	if len(got) < 2 || got[0] != "opening metadata" || got[1] != "waiting for the metadata quorum (no leader)" || got[len(got)-1] != "ready" {
		t.Errorf("node 1's readiness logged as %q", got)
	}
}

// httpAddrLine is the HTTP listener's address in a text log.
var httpAddrLine = regexp.MustCompile(`msg="http listener started" http_addr=(\S+)`)

// TestReadyzWhenFenced cuts a broker that is not the controller off the
// Kafka plane, where its heartbeats go: the controller fences it, its own
// metadata (the quorum plane still reaches it) says so, and /readyz
// answers 503; healed, it is unfenced and ready again.
func TestReadyzWhenFenced(t *testing.T) {
	c := newFaultCluster(t, 3, []string{"--http-addr", "127.0.0.1:0"})
	adm := kadm.NewClient(c.client())
	var controller int32 = -1
	waitFor(t, "a controller", func() bool {
		md, err := adm.BrokerMetadata(testContext(t))
		controller = md.Controller
		return err == nil && controller > 0
	})
	victim := controller%3 + 1
	m := httpAddrLine.FindStringSubmatch(c.nodes[victim-1].log.String())
	if m == nil {
		t.Fatalf("node %d logged no HTTP address", victim)
	}
	addr := m[1]
	wantProbe(t, addr, "/readyz", http.StatusOK, "ok")

	c.isolate(victim, kafkaPlane, netfault.Cut)
	waitFor(t, fmt.Sprintf("node %d to be not ready, fenced", victim), func() bool {
		status, body := probe(t, addr, "/readyz", "", "")
		return status == http.StatusServiceUnavailable && strings.Contains(body, "fenced")
	})
	wantProbe(t, addr, "/healthz", http.StatusOK, "ok")
	c.healAll()
	waitFor(t, fmt.Sprintf("node %d to be ready again", victim), func() bool {
		status, _ := probe(t, addr, "/readyz", "", "")
		return status == http.StatusOK
	})
	// The child's log reaches this process through a pipe, a moment
	// after the answer it logged before.
	waitFor(t, fmt.Sprintf("node %d to log fenced, then ready", victim), func() bool {
		got := readinessLog(c.nodes[victim-1].log.String())
		return slices.Contains(got, "fenced by the controller (heartbeats unanswered)") && got[len(got)-1] == "ready"
	})
}

// TestClusterHealthCLI runs eddy cluster health against a real cluster of
// three processes: healthy, it exits 0 and says so; with one broker
// killed, it lists that broker fenced and its partitions under-replicated
// and under min ISR, and exits non-zero.
func TestClusterHealthCLI(t *testing.T) {
	c := newProcCluster(t, 3)
	seeds := strings.Join(c.kafka, ",")
	adm := kadm.NewClient(c.client())
	createTopicRF(t, adm, adminTopic, 6, 3, map[string]*string{"min.insync.replicas": ptr("3")})
	md := waitPartitions(t, adm, "every partition fully in sync", 3, func(p kadm.PartitionDetail) bool {
		return p.Leader > 0 && len(p.ISR) == 3
	})
	res := clienttest.Run(t, cluster.Command, "", "health", "-b", seeds)
	if res.Err != nil || !strings.HasPrefix(res.Stdout, "healthy\n") {
		t.Fatalf("cluster health of a healthy cluster: %v\n%s", res.Err, res.Stdout)
	}

	victim := md.Controller%3 + 1
	c.nodes[victim-1].kill()
	type partition struct {
		Topic     string
		Partition int32
	}
	var got struct {
		Healthy  bool
		Problems []string
		Brokers  []struct {
			ID     int32
			Fenced bool
		}
		Quorum *struct {
			Leader int32
			Voters []struct{ ID int32 }
		}
		UnderReplicated []partition `json:"under_replicated"`
		Offline         []partition
		UnderMinISR     []partition `json:"under_min_isr"`
	}
	waitFor(t, fmt.Sprintf("cluster health to see broker %d down", victim), func() bool {
		res = clienttest.Run(t, cluster.Command, "", "health", "-b", seeds, "--format", "json")
		decodeJSON(t, res.Stdout, &got)
		return len(got.UnderReplicated) == 6 && slices.ContainsFunc(got.Brokers, func(b struct {
			ID     int32
			Fenced bool
		}) bool {
			return b.ID == victim && b.Fenced
		})
	})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "unhealthy") {
		t.Errorf("cluster health with broker %d down: error %v, want unhealthy", victim, res.Err)
	}
	if got.Healthy || len(got.Offline) != 0 || len(got.UnderMinISR) != 6 || got.Quorum == nil || got.Quorum.Leader <= 0 ||
		len(got.Quorum.Voters) != 3 || !slices.Contains(got.Problems, fmt.Sprintf("broker %d is fenced", victim)) {
		t.Errorf("cluster health with broker %d down: %s", victim, res.Stdout)
	}
	res = clienttest.Run(t, cluster.Command, "", "health", "-b", seeds)
	for _, w := range []string{"unhealthy\n", fmt.Sprintf("broker %d is fenced", victim), "6 partitions are under-replicated",
		"UNDER-REPLICATED PARTITIONS", "UNDER MIN ISR PARTITIONS", "fenced", "QUORUM"} {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("cluster health text lacks %q:\n%s", w, res.Stdout)
		}
	}
	if res.Err == nil {
		t.Error("cluster health text with a broker down: no error")
	}
}
