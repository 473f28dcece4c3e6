package controller

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// electionMetrics count the partition leader changes this controller's
// proposals committed. Every node proposes the changes it decides
// (fencing on the quorum leader, controlled shutdown, ElectLeaders on the
// broker asked), so each change is counted once, on its proposer: the
// cluster's total is the sum over nodes.
type electionMetrics struct {
	elections, unclean prometheus.Counter
}

func newElectionMetrics() *electionMetrics {
	return &electionMetrics{
		elections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_leader_elections_total",
			Help: "Partition leader changes to a new leader committed by this node's controller proposals (fencing, controlled shutdown, elections); the cluster's total is the sum over nodes.",
		}),
		// Reported even where unclean.leader.election.enable is off, as
		// Kafka's UncleanLeaderElectionsPerSec is: dashboards alert on it
		// leaving 0.
		unclean: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_unclean_leader_elections_total",
			Help: "Leader elections of a replica outside the ISR (unclean.leader.election.enable, or an unclean ElectLeaders) committed by this node's controller proposals.",
		}),
	}
}

// Collectors are the controller's series, for the node's registry. They
// count from New, registered or not.
func (c *Controller) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.elections, c.metrics.unclean}
}

// committed counts the leader changes among records, which the quorum
// committed on top of img. A partition going leaderless is not an
// election; a new topic's first leaders are not either.
func (m *electionMetrics) committed(img *meta.Image, records []meta.Record) {
	for _, r := range records {
		pr, ok := r.(meta.PartitionRecord)
		if !ok || pr.Leader == -1 {
			continue
		}
		t, ok := img.TopicByID(pr.TopicID)
		if !ok || int(pr.Index) >= len(t.Assignments) {
			continue
		}
		old := t.Assignments[pr.Index]
		if pr.Leader == old.Leader {
			continue
		}
		m.elections.Inc()
		if !slices.Contains(old.ISR, pr.Leader) {
			m.unclean.Inc()
		}
	}
}
