package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/node"
)

func withHTTP(cfg *node.Config) { cfg.HTTPAddr = "127.0.0.1:0" }

// TestMetricsEndpoint: /metrics serves Prometheus' text format that
// promtool accepts, with the Go and process collectors; with
// eddy.metrics.enabled=false it is not served at all.
func TestMetricsEndpoint(t *testing.T) {
	on := startNode(t, "", nil, withHTTP)
	body := httpGet(t, "http://"+on.HTTPAddr()+"/metrics", http.StatusOK)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "eddy_build_info"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	promtoolCheck(t, []byte(body))
	off := startNode(t, "", map[string]string{"eddy.metrics.enabled": "false"}, withHTTP)
	httpGet(t, "http://"+off.HTTPAddr()+"/metrics", http.StatusNotFound)
}

// httpGet fetches url, expecting status, and returns the body.
func httpGet(t *testing.T, url string, status int) string {
	t.Helper()
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %s, want %d\n%s", url, resp.Status, status, b.String())
	}
	return b.String()
}
