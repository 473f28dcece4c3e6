package node_test

// The listener's and the broker's series on a running node, scraped from
// /metrics as Prometheus would, and the request log.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/testpki"
)

// batchBytes adds up what a producer wrote: every record batch whole.
type batchBytes struct {
	mu             sync.Mutex
	bytes, records int
}

func (b *batchBytes) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes += record.HeaderSize + m.CompressedBytes // CompressedBytes leaves the header out
	b.records += m.NumRecords
}

// wait returns the bytes written once the hook, which franz-go calls
// after the produce returns, has seen n records.
func (b *batchBytes) wait(t *testing.T, n int) int {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b.mu.Lock()
		bytes, records := b.bytes, b.records
		b.mu.Unlock()
		if records == n {
			return bytes
		}
		if records > n || time.Now().After(deadline) {
			t.Fatalf("the producer hook saw %d records, want %d", records, n)
		}
	}
}

// TestMetricsServerRequests produces and consumes with franz-go pinned to
// Produce v9 and Fetch v12 and checks the request, byte, error and
// connection series, then runs promtool over the scrape.
func TestMetricsServerRequests(t *testing.T) {
	tn := startNode(t, "", nil, func(c *node.Config) { c.HTTPAddr = "127.0.0.1:0" })
	ms := httpMetrics(tn)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "metered", 3, nil)
	before := ms.scrape(t)

	written := &batchBytes{}
	const n = 300
	cl := newClient(t, tn.KafkaAddr(), pinnedVersions(), kgo.DefaultProduceTopic("metered"),
		kgo.WithHooks(written), kgo.ConsumeTopics("metered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testContext(t)
	for i := range n {
		// Synchronous: one request per record, so the counts below grow by n.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	writtenBytes := written.wait(t, n)

	m := ms.waitMetric(t, "Produce durations observed", func(m scraped) bool {
		return m.value("eddy_request_duration_seconds", "api", "Produce")-before.value("eddy_request_duration_seconds", "api", "Produce") >= n
	})
	if d := m.value("eddy_requests_total", "api", "Produce", "version", "9") - before.value("eddy_requests_total", "api", "Produce", "version", "9"); d < n {
		t.Errorf("eddy_requests_total{Produce,9} grew by %v, want at least %d", d, n)
	}
	if d := m.value("eddy_requests_total", "api", "Fetch", "version", "12"); d < 1 {
		t.Errorf("eddy_requests_total{Fetch,12} = %v", d)
	}
	if d := m.value("eddy_requests_total", "api", "Produce") - m.value("eddy_requests_total", "api", "Produce", "version", "9"); d != 0 {
		t.Errorf("%v Produce requests counted at a version other than 9", d)
	}
	produces := m.value("eddy_request_duration_seconds", "api", "Produce")
	for _, phase := range []string{"queue", "handle", "wait", "send"} {
		if got := m.value("eddy_request_phase_seconds", "api", "Produce", "phase", phase); got != produces {
			t.Errorf("Produce phase %s observed %v times, the duration %v", phase, got, produces)
		}
	}
	if len(m.series("eddy_request_phase_seconds", "api", "Metadata", "phase", "wait")) != 0 {
		t.Error("Metadata has a wait phase")
	}
	if m.value("eddy_request_duration_seconds", "api", "Fetch") < 1 {
		t.Error("no Fetch duration observed")
	}

	// Bytes in are the batches written, exactly; the one consumer read
	// them all at least once.
	in := m.value("eddy_bytes_in_total") - before.value("eddy_bytes_in_total")
	if in != float64(writtenBytes) || m.value("eddy_topic_bytes_in_total", "topic", "metered") != in {
		t.Errorf("bytes in: node %v, topic %v, the producer wrote %d", in, m.value("eddy_topic_bytes_in_total", "topic", "metered"), writtenBytes)
	}
	if got := m.value("eddy_messages_in_total") - before.value("eddy_messages_in_total"); got != n || m.value("eddy_topic_messages_in_total", "topic", "metered") != n {
		t.Errorf("messages in: node %v, topic %v, want %d", got, m.value("eddy_topic_messages_in_total", "topic", "metered"), n)
	}
	if out := m.value("eddy_topic_bytes_out_total", "topic", "metered"); out < in || m.value("eddy_bytes_out_total") < out {
		t.Errorf("bytes out: topic %v, node %v, want at least %v", out, m.value("eddy_bytes_out_total"), in)
	}
	if got := m.value("eddy_replication_bytes_out_total"); got != 0 {
		t.Errorf("a single node served %v bytes to followers", got)
	}
	if m.value("eddy_connections") < 1 || m.value("eddy_connections_accepted_total") < 1 {
		t.Errorf("connections: %v open, %v accepted", m.value("eddy_connections"), m.value("eddy_connections_accepted_total"))
	}

	// A partition that does not exist: both APIs count the error.
	errsBefore := m
	rawProduceFetch(t, cl, "metered", 99)
	m = ms.waitMetric(t, "errors counted", func(m scraped) bool {
		return m.value("eddy_request_errors_total", "api", "Produce", "error", "UNKNOWN_TOPIC_OR_PARTITION") > errsBefore.value("eddy_request_errors_total", "api", "Produce", "error", "UNKNOWN_TOPIC_OR_PARTITION") &&
			m.value("eddy_request_errors_total", "api", "Fetch", "error", "UNKNOWN_TOPIC_OR_PARTITION") > errsBefore.value("eddy_request_errors_total", "api", "Fetch", "error", "UNKNOWN_TOPIC_OR_PARTITION")
	})
	if len(m.series("eddy_request_errors_total", "error", "NONE")) != 0 {
		t.Error("NONE counted as an error")
	}
	if strings.Contains(tn.logs.String(), `msg="kafka request"`) {
		t.Error("requests logged with eddy.log.requests off")
	}
	promtoolCheck(t, ms.raw(t))

	// A long poll at the log end waits out its max wait: the broker
	// reports the wait, which the wait phase shows.
	waitSum := func(m scraped) float64 {
		s := m.series("eddy_request_phase_seconds", "api", "Fetch", "phase", "wait")
		if len(s) != 1 {
			return 0
		}
		return s[0].Histogram.GetSampleSum()
	}
	waitedBefore := waitSum(m)
	longPollAtEnd(t, cl, adm, "metered", 300)
	ms.waitMetric(t, "the long poll's wait observed", func(m scraped) bool { return waitSum(m) > waitedBefore })

	// Deleting the topic drops its series.
	if _, err := adm.DeleteTopic(ctx, "metered"); err != nil {
		t.Fatal(err)
	}
	ms.waitMetric(t, "the deleted topic's series dropped", func(m scraped) bool {
		return len(m.series("eddy_topic_bytes_in_total", "topic", "metered")) == 0
	})
}

// longPollAtEnd fetches partition 0 of topic at its end, waiting up to
// maxWait ms for data that does not come.
func longPollAtEnd(t *testing.T, cl *kgo.Client, adm *kadm.Client, topic string, maxWait int32) {
	t.Helper()
	ends, err := adm.ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, 1<<20, 1, maxWait
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, end.Offset, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := cl.Broker(1).Request(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("long poll at the end: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}

// pinnedVersions keeps a client at Produce v9 and Fetch v12, which name
// topics by name (v13 by ID).
func pinnedVersions() kgo.Opt {
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.Produce.Int16(), 9)
	versions.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return kgo.MaxVersions(versions)
}

// rawProduceFetch sends a Produce and a Fetch for topic's partition to the
// node over cl (pinnedVersions), which must answer
// UNKNOWN_TOPIC_OR_PARTITION.
func rawProduceFetch(t *testing.T, cl *kgo.Client, topic string, partition int32) {
	t.Helper()
	ctx := testContext(t)
	br := cl.Broker(1)
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks, prod.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = partition, make([]byte, record.HeaderSize)
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	presp, err := br.Request(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to partition %d: %v", partition, kerr.ErrorForCode(code))
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxBytes = -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = partition, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := br.Request(ctx, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if code := fresp.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("fetch from partition %d: %v", partition, kerr.ErrorForCode(code))
	}
}

// TestRequestLogDynamic turns eddy.log.requests on for Produce at run
// time with IncrementalAlterConfigs (as kafka-configs --alter does): the
// next requests of that API, and only those, are logged with their keys
// and the error they were answered.
func TestRequestLogDynamic(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "logged", 1, nil)
	cl := newClient(t, tn.KafkaAddr(), pinnedVersions(), kgo.ClientID("logged-client"))
	rawProduceFetch(t, cl, "logged", 7)
	if strings.Contains(tn.logs.String(), `msg="kafka request"`) {
		t.Fatal("requests logged before eddy.log.requests was set")
	}

	resps, err := adm.AlterBrokerConfigs(testContext(t), []kadm.AlterConfig{{Name: "eddy.log.requests", Value: ptr("Produce")}})
	alterOK(t, "eddy.log.requests", resps, err)
	rawProduceFetch(t, cl, "logged", 7)
	var lines []string
	for _, l := range strings.Split(tn.logs.String(), "\n") {
		if strings.Contains(l, `msg="kafka request"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d request log lines, want the one Produce:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, want := range []string{"level=INFO", "client_id=logged-client", "principal=User:ANONYMOUS", "remote=127.0.0.1:",
		"api=Produce", "api_version=", "correlation_id=", "latency_ms=", "error_code=3", "error=UNKNOWN_TOPIC_OR_PARTITION"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("request log line lacks %q: %s", want, lines[0])
		}
	}
	if !regexp.MustCompile(`latency_ms=[0-9.e-]+ `).MatchString(lines[0]) {
		t.Errorf("latency_ms is not a number: %s", lines[0])
	}
}

// TestMetricsAuthenticationFailures counts wrong passwords per SASL
// mechanism, a plaintext client on the TLS listener, and wrong basic auth
// on the HTTP listener.
func TestMetricsAuthenticationFailures(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	tn := startNode(t, "", map[string]string{"sasl.enabled.mechanisms": allMechanisms},
		withTLS(cert, key, ""), withBootstrapUser, func(cfg *node.Config) { cfg.HTTPAddr = "127.0.0.1:0" })
	tlsCfg := c.ClientTLS(t, "", "")
	ms := &metricsScraper{url: "https://" + strings.Replace(tn.HTTPAddr(), "127.0.0.1", "localhost", 1) + "/metrics",
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}, user: "admin", password: "admin-secret"}
	dial := kgo.DialTLSConfig(tlsCfg)
	wrong := scram.Auth{User: "admin", Pass: "wrong"}
	for _, mech := range []sasl.Mechanism{plain.Auth{User: "admin", Pass: "wrong"}.AsMechanism(),
		wrong.AsSha256Mechanism(), wrong.AsSha512Mechanism()} {
		refusedAuth(t, tn.KafkaAddr(), mech, dial)
	}
	conn, err := net.Dial("tcp", tn.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0, 0, 0, 20, 0, 18, 0, 0}) // an ApiVersions frame's start, in plaintext
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.ReadAll(conn) // until the listener closes it
	conn.Close()
	if got := httpStatus(t, ms.client, ms.url, "admin", "wrong"); got != http.StatusUnauthorized {
		t.Fatalf("wrong basic auth: %d", got)
	}
	produceConsume(t, tn.KafkaAddr(), "authed", 5, 5, dial, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))

	m := ms.scrape(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "TLS"} {
		if got := m.value("eddy_authentication_failures_total", "listener", "kafka", "mechanism", mech); got < 1 {
			t.Errorf("kafka %s failures: %v", mech, got)
		}
	}
	if got := m.value("eddy_authentication_failures_total", "listener", "http", "mechanism", "BASIC"); got < 1 {
		t.Errorf("http BASIC failures: %v", got)
	}
	if got := m.value("eddy_authentication_failures_total", "listener", "kafka", "mechanism", "OTHER"); got != 0 {
		t.Errorf("%v failures of no known mechanism", got)
	}
	promtoolCheck(t, ms.raw(t))
}

// TestMetricsConnectionsRejected holds the one connection
// max.connections.per.ip.overrides allows 127.0.0.2 and counts the next one
// refused; with topic labels off, no per-topic series appear.
func TestMetricsConnectionsRejected(t *testing.T) {
	tn := startNode(t, "", map[string]string{"max.connections.per.ip.overrides": "127.0.0.2:1", "eddy.metrics.topic.labels": "false"},
		func(c *node.Config) { c.HTTPAddr = "127.0.0.1:0" })
	ms := httpMetrics(tn)
	before := ms.scrape(t)
	from2 := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	first, err := from2.Dial("tcp", tn.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ms.waitMetric(t, "one connection open", func(m scraped) bool { return m.value("eddy_connections") == 1 })
	second, err := from2.Dial("tcp", tn.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection over max.connections.per.ip: %v, want closed", err)
	}
	second.Close()
	m := ms.scrape(t)
	if got := m.value("eddy_connections_rejected_total", "reason", "max_connections_per_ip"); got != 1 {
		t.Errorf("rejected for max_connections_per_ip: %v, want 1", got)
	}
	for _, reason := range []string{"max_connections", "creation_rate"} {
		if got := m.series("eddy_connections_rejected_total", "reason", reason); len(got) != 1 || got[0].Counter.GetValue() != 0 {
			t.Errorf("rejected for %s: %v, want one series at 0", reason, got)
		}
	}
	if got := m.value("eddy_connections_accepted_total") - before.value("eddy_connections_accepted_total"); got != 1 {
		t.Errorf("accepted: %v, want 1", got)
	}
	if got := m.value("eddy_connections"); got != 1 {
		t.Errorf("open: %v, want 1", got)
	}

	cl := newClient(t, tn.KafkaAddr(), kgo.DefaultProduceTopic("unlabelled"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m = ms.scrape(t)
	if m.value("eddy_messages_in_total") != 1 || m.value("eddy_connections") < 2 {
		t.Errorf("messages in: %v, want 1; open connections %v, want at least 2", m.value("eddy_messages_in_total"), m.value("eddy_connections"))
	}
	for name := range m {
		if strings.HasPrefix(name, "eddy_topic_") {
			t.Errorf("%s exported with eddy.metrics.topic.labels=false", name)
		}
	}
}
