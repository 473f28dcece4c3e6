package node_test

// Scraping /metrics in tests: fetch, parse, and check with promtool.

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsScraper scrapes one node's /metrics.
type metricsScraper struct {
	url            string
	client         *http.Client
	user, password string // basic auth, when SASL is on
}

func httpMetrics(tn *testNode) *metricsScraper {
	return &metricsScraper{url: "http://" + tn.HTTPAddr() + "/metrics", client: http.DefaultClient}
}

// raw returns the exposition text.
func (s *metricsScraper) raw(t *testing.T) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.user != "" {
		req.SetBasicAuth(s.user, s.password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %d %v\n%s", s.url, resp.StatusCode, err, body)
	}
	return body
}

// scrape parses a scrape.
func (s *metricsScraper) scrape(t *testing.T) scraped {
	t.Helper()
	return parseExposition(t, bytes.NewReader(s.raw(t)))
}

type scraped map[string]*dto.MetricFamily

// value sums the samples of name whose labels include want: counter and
// gauge values, a histogram's sample count. Zero when there are none.
func (s scraped) value(name string, want ...string) float64 {
	var sum float64
	for _, m := range s.series(name, want...) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// series returns the samples of name whose labels include want (name,
// value pairs).
func (s scraped) series(name string, want ...string) []*dto.Metric {
	f, ok := s[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && have[want[i]] == want[i+1]
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// waitMetric scrapes until cond holds, failing after a deadline: series a
// request counts after writing its answer can trail the client by a moment.
func (s *metricsScraper) waitMetric(t *testing.T, what string, cond func(scraped) bool) scraped {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := s.scrape(t)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parseExposition parses Prometheus' text format; a scrape that does not
// parse fails the test.
func parseExposition(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parsing a scrape: %v", err)
	}
	return families
}

// promtoolCheck runs `promtool check metrics` on a scrape: it must parse
// and lint clean.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (.ci/run does)")
	}
	return p
}
