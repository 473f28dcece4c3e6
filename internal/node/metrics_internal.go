package node

// The series of the node's internals: storage, replication, the
// controller and the group coordinators register their own on n.metrics
// (each takes it in its Config); the metadata quorum's are read here, at
// scrape time, from one Status call.

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// quorumStatusTimeout bounds the Status call of one scrape: a voter's run
// loop answers between steps, so only a stuck one takes longer, and the
// scrape then goes on without the quorum's series.
const quorumStatusTimeout = 500 * time.Millisecond

// internalMetrics gives storage the registry, and registers the quorum's
// series on a cluster member; open calls it once the quorum is joined and
// before the logs are opened.
func (n *Node) internalMetrics(scfg *storage.Config, settings config.BrokerConfig) {
	scfg.Registerer = n.registerer()
	scfg.MetricsTopicLabels = settings.Bool("eddy.metrics.topic.labels")
	if n.quorum != nil && n.metrics != nil {
		n.metrics.MustRegister(&quorumCollector{mq: n.quorum, self: n.cfg.NodeID})
	}
}

// controllerMetrics registers the controller's election counters.
func (n *Node) controllerMetrics(ctrl *controller.Controller) {
	if n.metrics != nil {
		n.metrics.MustRegister(ctrl.Collectors()...)
	}
}

var (
	quorumLeaderDesc = prometheus.NewDesc("eddy_quorum_leader",
		"Node id of the metadata quorum's leader as this node sees it, -1 when there is none.", nil, nil)
	quorumTermDesc = prometheus.NewDesc("eddy_quorum_term",
		"The metadata quorum's Raft term (Kafka's leader epoch of the metadata log) as this node sees it.", nil, nil)
	quorumCommitDesc = prometheus.NewDesc("eddy_quorum_commit_index",
		"Last metadata log index known committed (on an observer: the index its voter has applied).", nil, nil)
	quorumAppliedDesc = prometheus.NewDesc("eddy_quorum_applied_index",
		"Last metadata log index this node applied to its metadata image.", nil, nil)
	quorumIsLeaderDesc = prometheus.NewDesc("eddy_quorum_is_leader",
		"1 on the metadata quorum's leader (the active controller), else 0.", nil, nil)
	quorumChangesDesc = prometheus.NewDesc("eddy_quorum_leader_changes_total",
		"Times this node saw the metadata quorum's leader become another node than the last it saw, the first leader included; counted since start.", nil, nil)
	quorumVoterLagDesc = prometheus.NewDesc("eddy_quorum_voter_lag",
		"On the metadata quorum's leader: metadata log entries each voter's log is behind the leader's.", []string{"voter"}, nil)
)

// quorumCollector reports the metadata quorum from this node's member.
type quorumCollector struct {
	mq   *metaQuorum
	self int32
}

func (c *quorumCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{quorumLeaderDesc, quorumTermDesc, quorumCommitDesc, quorumAppliedDesc,
		quorumIsLeaderDesc, quorumChangesDesc, quorumVoterLagDesc} {
		ch <- d
	}
}

func (c *quorumCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), quorumStatusTimeout)
	defer cancel()
	st, err := c.mq.node.Status(ctx)
	if err != nil {
		return // stopping, or stuck: the scrape goes on without
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	leader, isLeader := -1.0, 0.0
	if st.Leader != 0 {
		leader = float64(int32(st.Leader) - 1)
	}
	if st.Leader == raftID(c.self) {
		isLeader = 1
	}
	gauge(quorumLeaderDesc, leader)
	gauge(quorumTermDesc, float64(st.Term))
	gauge(quorumCommitDesc, float64(st.Commit))
	gauge(quorumAppliedDesc, float64(st.Applied))
	gauge(quorumIsLeaderDesc, isLeader)
	ch <- prometheus.MustNewConstMetric(quorumChangesDesc, prometheus.CounterValue, float64(st.LeaderChanges))
	if isLeader == 0 {
		return
	}
	// Raft's progress is the leader's: only it knows how far each voter
	// has replicated, and its own match is its log's end.
	end := st.Match[raftID(c.self)]
	for _, id := range slices.Sorted(maps.Keys(c.mq.voters)) {
		m, ok := st.Match[raftID(id)]
		if !ok {
			continue
		}
		gauge(quorumVoterLagDesc, float64(end-min(m, end)), strconv.Itoa(int(id)))
	}
}
