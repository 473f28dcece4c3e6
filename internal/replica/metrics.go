package replica

import (
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// isrMetrics count the committed ISR changes of the partitions this node
// leads (Kafka's IsrShrinksPerSec and IsrExpandsPerSec): its own, once the
// quorum answers or the image brings them, whichever is first, and the
// controller's (a fenced follower taken out).
type isrMetrics struct {
	shrinks, expands prometheus.Counter
}

// newISRMetrics registers the counters on reg (nil: off). A registry that
// refuses them (a second Manager on one registry, a programming error) is
// logged rather than failing replication.
func newISRMetrics(reg prometheus.Registerer, log *slog.Logger) *isrMetrics {
	m := &isrMetrics{
		shrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_isr_shrinks_total",
			Help: "Committed ISR changes of partitions this node leads that removed a replica (the leader's own, or the controller's for a fenced broker).",
		}),
		expands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_isr_expands_total",
			Help: "Committed ISR changes of partitions this node leads that added a replica.",
		}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.shrinks, m.expands} {
		if err := reg.Register(c); err != nil {
			log.Error("replica metrics not registered", "err", err)
		}
	}
	return m
}

// committed counts a committed change from old to isr: a removal, an
// addition, or (never proposed today) both.
func (m *isrMetrics) committed(old, isr []int32) {
	if m == nil {
		return
	}
	if slices.ContainsFunc(old, func(id int32) bool { return !slices.Contains(isr, id) }) {
		m.shrinks.Inc()
	}
	if slices.ContainsFunc(isr, func(id int32) bool { return !slices.Contains(old, id) }) {
		m.expands.Inc()
	}
}
