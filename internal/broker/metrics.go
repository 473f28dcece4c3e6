package broker

// The broker's Prometheus series (docs/metrics.md): bytes and records in
// from producers, bytes out to consumers and to followers, per node and,
// with eddy.metrics.topic.labels on, per topic; and the partition errors
// Produce and Fetch answer. Counted from what the handlers already have
// (batch headers, chunk lengths): nothing is decoded or encoded for them.
// The request log's switch (eddy.log.requests) lives here too, since the
// broker holds the effective, dynamically changing configuration.

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/record"
)

// errorAPIs are the APIs whose partition errors are counted, indexes of
// brokerMetrics.errors.
const (
	errProduce = iota
	errFetch
)

// brokerMetrics are the broker's series. A nil *brokerMetrics (a Broker
// built without New, in tests) counts nothing.
type brokerMetrics struct {
	bytesIn, messagesIn, bytesOut, replicationOut prometheus.Counter
	// With topic labels on: the vectors, and their children by topic
	// (string → *topicMetrics), resolved once per topic.
	topicLabels                         bool
	topicBytesIn, topicMsgsIn, topicOut *prometheus.CounterVec
	topics                              sync.Map

	errorVec *prometheus.CounterVec
	errors   [2]sync.Map // error code → prometheus.Counter, per errorAPIs
}

type topicMetrics struct {
	bytesIn, messagesIn, bytesOut prometheus.Counter
}

// newBrokerMetrics registers the broker's series on reg; a nil reg keeps
// them on a registry nobody reads.
func newBrokerMetrics(reg prometheus.Registerer, topicLabels bool) *brokerMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m := &brokerMetrics{
		bytesIn:        counter("eddy_bytes_in_total", "Bytes of record batches producers appended to the logs led here."),
		messagesIn:     counter("eddy_messages_in_total", "Records producers appended to the logs led here."),
		bytesOut:       counter("eddy_bytes_out_total", "Bytes of record batches sent to consumers in Fetch answers."),
		replicationOut: counter("eddy_replication_bytes_out_total", "Bytes of record batches sent to follower replicas in Fetch answers."),
		topicLabels:    topicLabels,
		errorVec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_request_errors_total",
			Help: "Partition errors answered to Produce and Fetch, by API and Kafka error name."}, []string{"api", "error"}),
	}
	reg.MustRegister(m.errorVec)
	if topicLabels {
		vec := func(name, help string) *prometheus.CounterVec {
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
			reg.MustRegister(v)
			return v
		}
		m.topicBytesIn = vec("eddy_topic_bytes_in_total", "Bytes of record batches producers appended, by topic.")
		m.topicMsgsIn = vec("eddy_topic_messages_in_total", "Records producers appended, by topic.")
		m.topicOut = vec("eddy_topic_bytes_out_total", "Bytes of record batches sent to consumers, by topic.")
	}
	return m
}

// topic returns the topic's counters, nil with topic labels off.
func (m *brokerMetrics) topic(name string) *topicMetrics {
	if !m.topicLabels {
		return nil
	}
	if t, ok := m.topics.Load(name); ok {
		return t.(*topicMetrics)
	}
	t, _ := m.topics.LoadOrStore(name, &topicMetrics{
		bytesIn:    m.topicBytesIn.WithLabelValues(name),
		messagesIn: m.topicMsgsIn.WithLabelValues(name),
		bytesOut:   m.topicOut.WithLabelValues(name),
	})
	return t.(*topicMetrics)
}

// dropTopic forgets a deleted topic's series. A request still in flight
// for it may bring them back; they stop growing either way.
func (m *brokerMetrics) dropTopic(name string) {
	if m == nil || !m.topicLabels {
		return
	}
	m.topics.Delete(name)
	m.topicBytesIn.DeleteLabelValues(name)
	m.topicMsgsIn.DeleteLabelValues(name)
	m.topicOut.DeleteLabelValues(name)
}

// produced counts the batch a producer appended to topic, whose header the
// handler parsed: storage takes exactly one batch per partition from a
// client.
func (m *brokerMetrics) produced(topic string, batch []byte, h record.BatchHeader) {
	if m == nil {
		return
	}
	n := float64(h.NumRecords)
	m.bytesIn.Add(float64(len(batch)))
	m.messagesIn.Add(n)
	if t := m.topic(topic); t != nil {
		t.bytesIn.Add(float64(len(batch)))
		t.messagesIn.Add(n)
	}
}

// fetched counts bytes of topic sent to a consumer (follower false) or a
// follower.
func (m *brokerMetrics) fetched(topic string, n int64, follower bool) {
	if m == nil {
		return
	}
	if follower {
		m.replicationOut.Add(float64(n))
		return
	}
	m.bytesOut.Add(float64(n))
	if t := m.topic(topic); t != nil {
		t.bytesOut.Add(float64(n))
	}
}

// partitionError counts one partition's error code answered to api
// (errProduce or errFetch); 0 is not an error.
func (m *brokerMetrics) partitionError(api int, code int16) {
	if m == nil || code == 0 {
		return
	}
	if c, ok := m.errors[api].Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	name := "Produce"
	if api == errFetch {
		name = "Fetch"
	}
	c, _ := m.errors[api].LoadOrStore(code, m.errorVec.WithLabelValues(name, ErrorName(code)))
	c.(prometheus.Counter).Inc()
}

// ErrorName is Kafka's name of an error code, as its Errors enum spells it
// today (NOT_LEADER_OR_FOLLOWER, which franz-go still calls by its old
// name); NONE for 0, UNKNOWN_<code> for a code Kafka does not define.
func ErrorName(code int16) string {
	switch code {
	case 0:
		return "NONE"
	case kerr.NotLeaderForPartition.Code:
		return "NOT_LEADER_OR_FOLLOWER"
	}
	if e := kerr.TypedErrorForCode(code); e != nil && (e.Code == code) {
		return e.Message
	}
	return "UNKNOWN_" + strconv.Itoa(int(code))
}

// requestLog is the set of API keys eddy.log.requests names, indexed by
// key.
type requestLog [kmsg.MaxKey + 1]bool

func newRequestLog(bc config.BrokerConfig) *requestLog {
	var rl requestLog
	for key := range bc.RequestLogAPIs() {
		if key >= 0 && int(key) < len(rl) {
			rl[key] = true
		}
	}
	return &rl
}

// LogsRequest reports whether requests of API key are to be logged
// (eddy.log.requests, which may change at run time).
func (b *Broker) LogsRequest(key int16) bool {
	if b == nil {
		return false
	}
	rl := b.requestLog.Load()
	return rl != nil && key >= 0 && int(key) < len(rl) && rl[key]
}

// storeSettings publishes the effective configuration and what is derived
// from it.
func (b *Broker) storeSettings(bc config.BrokerConfig) {
	b.current.Store(&bc)
	b.requestLog.Store(newRequestLog(bc))
}
