package server

// The listener's Prometheus series (docs/metrics.md): requests by API and
// version, their latency from the frame read to the answer written and
// its phases, connections, and failed authentications. A request's series
// are resolved once per API key (and version) into apiMetrics, so
// answering a request costs a few atomic adds and no label lookups.

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
)

// latencyBuckets span a cached Metadata answer (100µs) to a long poll
// (30s, a consumer's fetch.max.wait.ms at most in practice).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// The phases of a request, indexes of apiMetrics.phases.
const (
	phaseQueue  = iota // frame read → handling starts (decode and its memory included)
	phaseHandle        // the broker's handling, minus its wait
	phaseWait          // the broker waiting on others (broker.Response.Wait)
	phaseSend          // writing the answer
	numPhases
)

var phaseNames = [numPhases]string{"queue", "handle", "wait", "send"}

// Reasons a connection is refused, the values of eddy_connections_rejected_total's label.
var rejectReasons = map[error]string{
	errTooManyConnections:      "max_connections",
	errTooManyConnectionsPerIP: "max_connections_per_ip",
	errConnectionRate:          "creation_rate",
}

// authMechanisms are the values eddy_authentication_failures_total's
// mechanism label takes; anything else a client names counts as OTHER.
var authMechanisms = []string{auth.PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512", "TLS", "OTHER"}

type serverMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	phases   *prometheus.HistogramVec
	apis     [kmsg.MaxKey + 1]apiMetrics

	accepted prometheus.Counter
	rejected map[error]prometheus.Counter
	authFail map[string]prometheus.Counter // by authMechanisms
}

// apiMetrics are one API's series, resolved at its first request.
type apiMetrics struct {
	once     sync.Once
	duration prometheus.Observer
	phases   [numPhases]prometheus.Observer // wait nil for APIs that never wait
	// versions: eddy_requests_total by version, each resolved at the
	// version's first request.
	versions []atomic.Pointer[prometheus.Counter]
}

func newServerMetrics(reg prometheus.Registerer, s *Server) *serverMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics off: kept where nobody reads them
	}
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_requests_total",
			Help: "Kafka requests handled, by API and version."}, []string{"api", "version"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eddy_request_duration_seconds",
			Help: "Time from a Kafka request fully read to its answer written, by API.", Buckets: latencyBuckets}, []string{"api"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eddy_request_phase_seconds",
			Help:    "A Kafka request's time by phase: queue (read to handling), handle, wait (on followers or a long poll; Produce and Fetch) and send.",
			Buckets: latencyBuckets}, []string{"api", "phase"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_connections_accepted_total",
			Help: "Kafka connections accepted within the connection limits."}),
		rejected: map[error]prometheus.Counter{},
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_connections_rejected_total",
		Help: "Kafka connections closed at once for exceeding a connection limit, by limit."}, []string{"reason"})
	for err, reason := range rejectReasons {
		m.rejected[err] = rejected.WithLabelValues(reason)
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_connections", Help: "Kafka connections open."},
		func() float64 { return float64(s.openConns()) })
	reg.MustRegister(m.requests, m.duration, m.phases, m.accepted, rejected, open)
	failures := authFailures(reg)
	m.authFail = map[string]prometheus.Counter{}
	for _, mech := range authMechanisms {
		m.authFail[mech] = failures.WithLabelValues("kafka", mech)
	}
	return m
}

// api returns key's series, resolving them at its first request.
func (m *serverMetrics) api(key int16) *apiMetrics {
	a := &m.apis[key]
	a.once.Do(func() {
		name := kmsg.NameForKey(key)
		a.duration = m.duration.WithLabelValues(name)
		for p, phase := range phaseNames {
			if p != phaseWait || waits(key) {
				a.phases[p] = m.phases.WithLabelValues(name, phase)
			}
		}
		a.versions = make([]atomic.Pointer[prometheus.Counter], kmsg.RequestForKey(key).MaxVersion()+1)
	})
	return a
}

// waits reports whether handlers of key may wait on others
// (broker.Response.Wait): only those get a wait phase.
func waits(key int16) bool { return key == kmsg.Produce.Int16() || key == kmsg.Fetch.Int16() }

// count counts a request of version v.
func (a *apiMetrics) count(m *serverMetrics, key, v int16) {
	if v < 0 || int(v) >= len(a.versions) {
		return
	}
	c := a.versions[v].Load()
	if c == nil {
		// Racing first requests resolve the same child.
		cc := m.requests.WithLabelValues(kmsg.NameForKey(key), strconv.Itoa(int(v)))
		c = &cc
		a.versions[v].Store(c)
	}
	(*c).Inc()
}

// observe records a request answered: read is when its frame was read,
// start and handled when the broker began and ended, written when the
// answer was (handled if there was none).
//
// The duration goes last: once a scrape shows it, the phases are there.
func (a *apiMetrics) observe(read, start, handled, written time.Time, wait time.Duration, answered bool) {
	a.phases[phaseQueue].Observe(start.Sub(read).Seconds())
	a.phases[phaseHandle].Observe(max(0, handled.Sub(start)-wait).Seconds())
	if a.phases[phaseWait] != nil {
		a.phases[phaseWait].Observe(wait.Seconds())
	}
	if answered {
		a.phases[phaseSend].Observe(written.Sub(handled).Seconds())
	}
	a.duration.Observe(written.Sub(read).Seconds())
}

// authFailed counts a failed authentication on the Kafka listener.
func (m *serverMetrics) authFailed(mechanism string) {
	c, ok := m.authFail[mechanism]
	if !ok {
		c = m.authFail["OTHER"]
	}
	c.Inc()
}

// authFailures registers eddy_authentication_failures_total on reg, or
// returns the one already there: the Kafka listener and the node's HTTP
// listener share it.
func authFailures(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_authentication_failures_total",
		Help: "Failed authentications, by listener (kafka, http) and mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, TLS, BASIC)."},
		[]string{"listener", "mechanism"})
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(*prometheus.CounterVec)
		}
		panic(err) // a programming error: another series under this name
	}
	return v
}

// AuthFailureCounter returns the eddy_authentication_failures_total child
// for listener and mechanism on reg (registered there by whichever asks
// first), for the node's other listeners; a nil reg gives a counter
// nobody reads.
func AuthFailureCounter(reg prometheus.Registerer, listener, mechanism string) prometheus.Counter {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return authFailures(reg).WithLabelValues(listener, mechanism)
}

func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}
