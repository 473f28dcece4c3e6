package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streaming/eddy/internal/node"
)

// dashboardFile and scrapeConfig are the monitoring files deploy/ ships.
var (
	dashboardFile = filepath.Join("..", "..", "deploy", "grafana", "eddy.json")
	scrapeConfig  = filepath.Join("..", "..", "deploy", "prometheus", "prometheus.yml")
)

// grafanaDashboard is the part of Grafana's dashboard JSON that names
// queries.
type grafanaDashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardQueries returns every PromQL expression the dashboard runs,
// with Grafana's variables replaced by values Prometheus accepts, and the
// label_values(metric, label) pairs its variables ask for.
func dashboardQueries(t *testing.T) (exprs []string, labelValues [][2]string) {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	grafanaVars := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*", "$topic", ".*", "$consumergroup", ".*")
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, grafanaVars.Replace(tg.Expr))
		}
	}
	lv := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		m := lv.FindStringSubmatch(fmt.Sprint(q["query"]))
		if m == nil {
			t.Errorf("variable %s: query %v is not label_values(metric, label)", v.Name, v.Query)
			continue
		}
		labelValues = append(labelValues, [2]string{m[1], m[2]})
	}
	if len(exprs) < 20 {
		t.Fatalf("the dashboard runs %d queries; expected its full set of panels", len(exprs))
	}
	return exprs, labelValues
}

// TestMonitoringFilesValid: promtool accepts the Prometheus scrape config
// (and the alert rules it loads), and every dashboard expression parses as
// PromQL (checked as recording rules).
func TestMonitoringFilesValid(t *testing.T) {
	promtool := requirePromtool(t)
	if out, err := exec.Command(promtool, "check", "config", scrapeConfig).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	exprs, _ := dashboardQueries(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
}

// TestDashboardSeriesExist runs a 3-node cluster with SASL through what
// the dashboard shows (produce with acks=all, a consumer group, a refused
// password, a partition error) and checks that every series the dashboard
// queries, with every label it filters on, is exported by the nodes.
func TestDashboardSeriesExist(t *testing.T) {
	exprs, labelValues := dashboardQueries(t)
	tc := newTestCluster(t, 3, withBootstrapUser, func(cfg *node.Config) {
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.Settings = map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256"}
	})
	if t.Failed() {
		t.FailNow()
	}
	ctx := testContext(t)
	auth := kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism())
	opts := []kgo.Opt{kgo.SeedBrokers(tc.seeds()...), auth}
	adm := kadm.NewClient(newClient(t, tc.cfgs[0].KafkaAddr, opts...))
	createTopicRF(t, adm, "dashboard", 3, 3, nil)
	producer := newClient(t, tc.cfgs[0].KafkaAddr, append(opts, kgo.DefaultProduceTopic("dashboard"), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	for i := range 100 {
		if err := producer.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	consumer := newClient(t, tc.cfgs[1].KafkaAddr, append(opts, kgo.ConsumeTopics("dashboard"), kgo.ConsumerGroup("dashboard-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())...)
	for got := 0; got < 50; {
		fs := consumer.PollRecords(ctx, 50-got)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	refusedAuth(t, tc.cfgs[2].KafkaAddr, scram.Auth{User: "admin", Pass: "wrong"}.AsSha256Mechanism())
	produceToMissingPartition(t, producer)

	// Counters and gauges appear as they are touched; give the nodes a
	// few scrapes to show the rebalance, the ISR and the quorum.
	var families map[string]*dto.MetricFamily
	var labels map[string]map[string]bool
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		families, labels = scrapeCluster(t, tc)
		if missing = missingSeries(exprs, families, labels); len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, miss := range missing {
		t.Error(miss)
	}
	for _, n := range tc.nodes {
		s := &metricsScraper{url: "http://" + n.HTTPAddr() + "/metrics", client: http.DefaultClient, user: "admin", password: "admin-secret"}
		promtoolCheck(t, s.raw(t))
	}
	for _, lv := range labelValues {
		if !labels[lv[0]][lv[1]] && lv[1] != "instance" {
			t.Errorf("variable: %s has no label %q", lv[0], lv[1])
		}
	}
}

// scrapeCluster scrapes every node: the families found on any of them and
// the label names each family carries.
func scrapeCluster(t *testing.T, tc *testCluster) (map[string]*dto.MetricFamily, map[string]map[string]bool) {
	families := map[string]*dto.MetricFamily{}
	labels := map[string]map[string]bool{}
	for _, n := range tc.nodes {
		for name, f := range scrapeAuth(t, n.HTTPAddr(), "admin", "admin-secret") {
			families[name] = f
			if labels[name] == nil {
				labels[name] = map[string]bool{}
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					labels[name][l.GetName()] = true
				}
			}
		}
	}
	return families, labels
}

// produceToMissingPartition sends a Produce to a partition the topic does
// not have: the node answers UNKNOWN_TOPIC_OR_PARTITION for it.
func produceToMissingPartition(t *testing.T, cl *kgo.Client) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "dashboard"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition = 99
	topic.Partitions = append(topic.Partitions, p)
	req.Topics = append(req.Topics, topic)
	if _, err := req.RequestWith(testContext(t), cl); err != nil {
		t.Fatal(err)
	}
}

var (
	// selectorRE finds a metric name and its label matchers in PromQL.
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
)

// missingSeries names each metric (or label of one) that exprs query and
// the scrape lacks. Metric names are the words starting with a prefix of
// ours; a histogram's _bucket, _sum and _count belong to its family.
func missingSeries(exprs []string, families map[string]*dto.MetricFamily, labels map[string]map[string]bool) []string {
	var missing []string
	for _, e := range exprs {
		for _, m := range selectorRE.FindAllStringSubmatch(e, -1) {
			name := m[1]
			if !slices.ContainsFunc([]string{"eddy_", "kafka_", "go_", "process_"}, func(p string) bool { return strings.HasPrefix(name, p) }) {
				continue
			}
			family := name
			if _, ok := families[family]; !ok {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if f, ok := families[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
						family = strings.TrimSuffix(name, suffix)
					}
				}
			}
			if _, ok := families[family]; !ok {
				missing = append(missing, fmt.Sprintf("%s (in %s) is not exported", name, e))
				continue
			}
			for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
				if l := lm[1]; l != "instance" && l != "job" && l != "le" && !labels[family][l] {
					missing = append(missing, fmt.Sprintf("%s has no label %q (in %s)", family, l, e))
				}
			}
		}
	}
	return missing
}

// scrapeAuth scrapes a node's /metrics with basic auth.
func scrapeAuth(t *testing.T, httpAddr, user, password string) map[string]*dto.MetricFamily {
	t.Helper()
	s := &metricsScraper{url: "http://" + httpAddr + "/metrics", client: http.DefaultClient, user: user, password: password}
	return s.scrape(t)
}
