package node

// Readiness: the HTTP listener starts before anything else so that
// probes see a starting node as alive but not ready, with the reason.
// Start moves the node through the phases below, in one place (readiness);
// /readyz, eddy_ready and httpAuth read it. Once serving, readiness is
// computed on each probe from the Kafka listener's health and whether this
// node's metadata shows it fenced.

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/server"
)

// phase is how far Start has come.
type phase int32

const (
	phaseStarting       phase = iota
	phaseOpeningMeta          // opening the metadata (standalone: its state file)
	phaseQuorumNoLeader       // a cluster member waiting for a quorum leader
	phaseCatchingUp           // applying what the quorum committed before this start
	phaseRecovering           // the metadata is open (n.meta set); opening the logs
	phaseRegistering          // registering with the controller, starting the broker
	phaseFenced               // serving, waiting to be unfenced by the controller
	phaseServing              // Start is done: n.kafka and n.member are set
)

// reasons are what /readyz answers in each phase before serving.
var reasons = [...]string{
	phaseStarting:       "starting",
	phaseOpeningMeta:    "opening metadata",
	phaseQuorumNoLeader: "waiting for the metadata quorum (no leader)",
	phaseCatchingUp:     "catching up metadata",
	phaseRecovering:     "recovering logs",
	phaseRegistering:    "starting the broker",
	phaseFenced:         "waiting to be unfenced by the controller",
	phaseServing:        "",
}

// phaseHook, set by tests only, runs at each phase change of the node on
// data directory dir, once the phase shows: it may hold the node there
// while the test probes it.
var phaseHook func(dir, reason string)

// readiness is the node's start phase, and the reason last reported once
// serving, so that each change is logged once.
type readiness struct {
	phase atomic.Int32
	// kafkaStopped is set once the Kafka listener's Serve returned: its
	// ErrNotServing means for good, not yet to come.
	kafkaStopped atomic.Bool
	dir          string // the data directory, for phaseHook
	log          *slog.Logger
	mu           sync.Mutex
	last         string // the last reason logged ("" ready)
}

func newReadiness(dir string, log *slog.Logger) *readiness {
	return &readiness{dir: dir, log: log, last: reasons[phaseStarting]}
}

// set moves to phase p. Everything Start wrote before set is visible to a
// reader that loads p or a later phase.
func (r *readiness) set(p phase) {
	r.phase.Store(int32(p))
	r.report(reasons[p])
	if phaseHook != nil {
		phaseHook(r.dir, reasons[p])
	}
}

func (r *readiness) at(p phase) bool { return phase(r.phase.Load()) >= p }

// report logs a change of reason ("" ready).
func (r *readiness) report(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason == r.last {
		return
	}
	r.last = reason
	if reason == "" {
		r.log.Info("node ready")
	} else {
		r.log.Info("node not ready", "reason", reason)
	}
}

// notReady is why the node is not ready to serve, "" if it is.
func (n *Node) notReady() string {
	if !n.ready.at(phaseServing) {
		return reasons[n.ready.phase.Load()]
	}
	reason := ""
	if err := n.kafkaHealth(); err != nil {
		reason = "kafka listener: " + err.Error()
	} else if n.fenced() {
		reason = "fenced by the controller (heartbeats unanswered)"
	}
	n.ready.report(reason)
	return reason
}

// kafkaHealth is the Kafka listener's health. Before its Serve has begun
// it is bound already: connections wait in its backlog, so it counts as
// serving.
func (n *Node) kafkaHealth() error {
	err := n.kafka.Health()
	if errors.Is(err, server.ErrNotServing) && !n.ready.kafkaStopped.Load() {
		return nil
	}
	return err
}

// fenced reports whether this node's own metadata shows this incarnation
// fenced (or no longer registered); a standalone node never is.
func (n *Node) fenced() bool {
	if n.member == nil {
		return false
	}
	b, ok := n.meta.Image().Broker(n.cfg.NodeID)
	return !ok || b.Epoch != n.member.epoch || b.Fenced
}

// healthz answers 200 while the process serves HTTP, failing only once
// the Kafka listener is down for good.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	if n.ready.kafkaStopped.Load() {
		http.Error(w, "kafka listener stopped", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// readyz answers 200 "ok" when the node is ready to serve clients, else
// 503 with the reason.
func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	if reason := n.notReady(); reason != "" {
		http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// readyGauge is eddy_ready.
func (n *Node) readyGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eddy_ready",
		Help: "1 when the node is ready to serve clients (what /readyz answers 200 to), else 0.",
	}, func() float64 {
		if n.notReady() != "" {
			return 0
		}
		return 1
	})
}
