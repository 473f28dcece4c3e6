package node_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/node"
)

// served reports whether a new connection to addr gets ApiVersions
// answered; a refused connection is closed by the broker instead.
func served(t *testing.T, addr string) (net.Conn, bool) {
	t.Helper()
	c := dial(t, addr)
	return c, apiVersionsAnswered(c, 10*time.Second)
}

// TestMaxConnections refuses connections over max.connections and serves
// new ones once others leave.
func TestMaxConnections(t *testing.T) {
	tn := startNode(t, "", map[string]string{"max.connections": "3"})
	var open []net.Conn
	for i := range 3 {
		c, ok := served(t, tn.KafkaAddr())
		if !ok {
			t.Fatalf("connection %d of 3 refused", i+1)
		}
		open = append(open, c)
	}
	if _, ok := served(t, tn.KafkaAddr()); ok {
		t.Fatal("a 4th connection was served with max.connections=3")
	}
	open[0].Close()
	waitFor(t, "a slot to free up", func() bool { c, ok := served(t, tn.KafkaAddr()); c.Close(); return ok })
	if !strings.Contains(tn.logs.String(), "max.connections reached") {
		t.Error("no log line for the refused connection")
	}
}

// TestMaxConnectionsPerIP applies max.connections.per.ip and its overrides.
func TestMaxConnectionsPerIP(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]string
		want     int
	}{
		{map[string]string{"max.connections.per.ip": "2"}, 2},
		{map[string]string{"max.connections.per.ip": "2", "max.connections.per.ip.overrides": "127.0.0.1:4,10.1.1.1:1"}, 4},
		{map[string]string{"max.connections.per.ip.overrides": "127.0.0.1:1"}, 1},
	} {
		tn := startNode(t, "", tc.settings)
		for i := range tc.want {
			if _, ok := served(t, tn.KafkaAddr()); !ok {
				t.Fatalf("%v: connection %d of %d refused", tc.settings, i+1, tc.want)
			}
		}
		if _, ok := served(t, tn.KafkaAddr()); ok {
			t.Fatalf("%v: connection %d served", tc.settings, tc.want+1)
		}
	}
}

// TestMaxConnectionCreationRate closes connections made faster than
// max.connection.creation.rate allows, and serves clients again later.
func TestMaxConnectionCreationRate(t *testing.T) {
	tn := startNode(t, "", map[string]string{"max.connection.creation.rate": "2"})
	refused := 0
	for range 10 {
		c, ok := served(t, tn.KafkaAddr())
		c.Close()
		if !ok {
			refused++
		}
	}
	// Ten connections in a row take far less than the 4 s that would let
	// all of them in.
	if refused == 0 {
		t.Fatal("10 connections in a row served at 2 per second")
	}
	waitFor(t, "the rate to allow a client again", func() bool { c, ok := served(t, tn.KafkaAddr()); c.Close(); return ok })
}

// TestIdleConnectionsClose closes a connection silent for
// connections.max.idle.ms, but not one waiting on its own request.
func TestIdleConnectionsClose(t *testing.T) {
	tn := startNode(t, "", map[string]string{"connections.max.idle.ms": "300"})
	idle, ok := served(t, tn.KafkaAddr())
	if !ok {
		t.Fatal("not served")
	}
	idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(idle, make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("idle connection: want closed, got %v", err)
	}
	// A fetch long-polling for 2 s is in flight, not idle.
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "quiet", 1, nil)
	cl := fetchV12Client(t, tn.KafkaAddr())
	req := longPollFetch("quiet", 2000)
	resp, err := req.RequestWith(testContext(t), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("long poll on a connection with a 300 ms idle timeout: %v", err)
	}
}

// TestPprofOnlyOnLoopback serves pprof on a loopback HTTP listener, not on
// one bound to every interface (but to super users, TestHTTPSecurity), and
// on eddy.pprof.addr when that is set.
func TestPprofOnlyOnLoopback(t *testing.T) {
	httpAt := func(addr string) func(*node.Config) { return func(c *node.Config) { c.HTTPAddr = addr } }
	status := func(addr, path string) int {
		t.Helper()
		addr = strings.Replace(addr, "0.0.0.0", "127.0.0.1", 1)
		addr = strings.Replace(addr, "[::]", "127.0.0.1", 1)
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	loop := startNode(t, "", nil, httpAt("127.0.0.1:0"))
	if code := status(loop.HTTPAddr(), "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof on a loopback http listener: %d", code)
	}
	all := startNode(t, "", nil, httpAt(":0"))
	if code := status(all.HTTPAddr(), "/debug/pprof/"); code != http.StatusForbidden {
		t.Errorf("pprof on an http listener on every interface: %d", code)
	}
	if code := status(all.HTTPAddr(), "/readyz"); code != http.StatusOK {
		t.Errorf("readyz: %d", code)
	}
	if !strings.Contains(all.logs.String(), "pprof_super_users_only=true") {
		t.Error("no log line saying pprof is for super users only")
	}
	own := startNode(t, "", map[string]string{"eddy.pprof.addr": "127.0.0.1:0"}, httpAt(":0"))
	if code := status(own.PprofAddr(), "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof on eddy.pprof.addr: %d", code)
	}
	if code := status(own.HTTPAddr(), "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof on the http listener with eddy.pprof.addr set: %d", code)
	}
}

// TestGarbageFloodLogsBoundedLines sends 10,000 garbage frames on as many
// connections; the warnings they cause must be rate-limited.
func TestGarbageFloodLogsBoundedLines(t *testing.T) {
	tn := startNode(t, "", nil)
	before := strings.Count(tn.logs.String(), "\n")
	for i := range 10_000 {
		c, err := net.Dial("tcp", tn.KafkaAddr())
		if err != nil {
			t.Fatal(err)
		}
		garbage := []byte{0xff, 0xff, 0xff, 0xf0} // negative size
		if i%2 == 1 {
			garbage = frame(999, 0, nil) // unknown api key
		}
		c.Write(garbage)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.ReadFull(c, make([]byte, 1)) // until the broker closes it
		c.Close()
	}
	if _, ok := served(t, tn.KafkaAddr()); !ok {
		t.Fatal("not served after the flood")
	}
	lines := strings.Count(tn.logs.String(), "\n") - before
	t.Logf("10,000 garbage frames: %d log lines", lines)
	if lines > 100 {
		t.Fatalf("10,000 garbage frames logged %d lines", lines)
	}
}

// TestQueuedBytesAtLeastRequestMax refuses to start with a memory pool
// smaller than the largest frame, which could never be read.
func TestQueuedBytesAtLeastRequestMax(t *testing.T) {
	_, err := node.Start(testContext(t), node.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Settings: map[string]string{"queued.max.request.bytes": "1048576", "socket.request.max.bytes": "2097152"}})
	if err == nil || !strings.Contains(err.Error(), "queued.max.request.bytes") {
		t.Fatalf("starting with queued.max.request.bytes < socket.request.max.bytes: %v", err)
	}
}
