package node

// The node's Prometheus registry: every component registers its series on
// it (STYLE.md: an injected registerer, never the global one, so that
// in-process test clusters keep their nodes apart), and /metrics on the
// HTTP listener serves it. docs/metrics.md lists the series.

import (
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrapeTimeout bounds one scrape; a collector still running then is
// answered without (promhttp's ContinueOnError).
const scrapeTimeout = 10 * time.Second

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "eddy_build_info",
			Help:        "Always 1; the labels name the Go version that built this node.",
			ConstLabels: prometheus.Labels{"goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// registerer is what components register their series on: nil (their
// metrics off) when eddy.metrics.enabled is false. A nil *Registry must not
// reach them inside a non-nil interface.
func (n *Node) registerer() prometheus.Registerer {
	if n.metrics == nil {
		return nil
	}
	return n.metrics
}

// metricsHandler serves the registry. Two scrapes at most run at once: a
// third waits its turn rather than doubling the cost of a large cluster's
// collection.
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogPromLogger{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 2,
		Timeout:             scrapeTimeout,
		Registry:            reg, // promhttp_metric_handler_errors_total
	})
}

// slogPromLogger hands promhttp's errors to the node's logger.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Warn("metrics scrape failed", "err", slog.AnyValue(v).String())
}
