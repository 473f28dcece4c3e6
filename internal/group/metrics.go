package group

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

func newRebalances() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eddy_group_rebalances_total",
		Help: "Completed rebalances of the groups this node coordinates: each new generation of a classic group, each group epoch bump of a KIP-848 consumer group.",
	})
}

// registerMetrics registers the Manager's series on reg (nil: off).
func (m *Manager) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(m.rebalances); err != nil {
		return fmt.Errorf("group: registering metrics: %w", err)
	}
	return nil
}

// rebalanced counts a new generation or group epoch. Cores built by tests
// have no counter.
func (c *coordinator) rebalanced() {
	if c.cfg.rebalances != nil {
		c.cfg.rebalances.Inc()
	}
}
