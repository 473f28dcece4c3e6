package node_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/node"
)

// samples flattens a scrape to "name{label=value,...}" → value, labels
// sorted by name; a histogram gives its sample count.
func samples(families map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			default:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// scrapeNode scrapes node i (from 0) of an unsecured cluster.
func (c *testCluster) scrapeNode(i int) map[string]float64 {
	c.t.Helper()
	return samples(scrapeAuth(c.t, c.nodes[i].HTTPAddr(), "", ""))
}

// quorumAgreed reports the quorum leader every node names, once all
// agree on it and on the term and exactly that node says it leads; 0
// before.
func (c *testCluster) quorumAgreed() int32 {
	var leader, term float64 = -2, -1
	leaders := 0
	for i := range c.nodes {
		s := c.scrapeNode(i)
		l, ok1 := s["eddy_quorum_leader"]
		tm, ok2 := s["eddy_quorum_term"]
		if !ok1 || !ok2 || l < 0 || leader != -2 && (l != leader || tm != term) {
			return 0
		}
		leader, term = l, tm
		if s["eddy_quorum_is_leader"] == 1 {
			if int32(i+1) != int32(l) {
				return 0
			}
			leaders++
		}
		if s["eddy_quorum_applied_index"] == 0 || s["eddy_quorum_commit_index"] == 0 || s["eddy_quorum_leader_changes_total"] < 1 {
			return 0
		}
	}
	if leaders != 1 {
		return 0
	}
	return int32(leader)
}

// TestInternalMetricsCluster scrapes a 3-node cluster: the nodes agree on
// the quorum's leader and term and one says it leads, with each voter's
// lag; logs report their sizes; a follower that stops leaves the ISR and
// the partition's leader counts the shrink, and counts the expansion when
// it is back; a partition leader that stops makes the controller (the
// quorum leader) count leader elections.
func TestInternalMetricsCluster(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *node.Config) {
		c.HTTPAddr = "127.0.0.1:0"
		c.Settings = map[string]string{"broker.heartbeat.interval.ms": "250", "broker.session.timeout.ms": "2000",
			"replica.lag.time.max.ms": "2000"}
	})
	var q int32
	waitFor(t, "the nodes to agree on the quorum's leader and term", func() bool { q = tc.quorumAgreed(); return q > 0 })
	s := tc.scrapeNode(int(q - 1))
	for id := 1; id <= 3; id++ {
		if _, ok := s[fmt.Sprintf("eddy_quorum_voter_lag{voter=%d}", id)]; !ok {
			t.Errorf("the quorum leader %d reports no lag of voter %d", q, id)
		}
	}
	for i := range 3 {
		if i+1 != int(q) {
			if _, ok := tc.scrapeNode(i)[`eddy_quorum_voter_lag{voter=1}`]; ok {
				t.Errorf("node %d, a follower, reports voter lag", i+1)
			}
		}
	}

	ctx := testContext(t)
	adm := newAdmin(t, tc.cfgs[0].KafkaAddr)
	createTopicRF(t, adm, "im", 3, 3, nil)
	cl := newClient(t, tc.cfgs[0].KafkaAddr, kgo.SeedBrokers(tc.seeds()...), kgo.DefaultProduceTopic("im"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 30 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 3), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every node to report the replicas' sizes", func() bool {
		for i := range 3 {
			s := tc.scrapeNode(i)
			for p := range 3 {
				if s[fmt.Sprintf("eddy_log_size_bytes{partition=%d,topic=im}", p)] == 0 || s[fmt.Sprintf("eddy_log_segments{partition=%d,topic=im}", p)] != 1 {
					return false
				}
			}
			if s["eddy_node_partitions"] < 3 || s["eddy_node_log_size_bytes"] == 0 || s["eddy_log_fsync_duration_seconds"] == 0 {
				return false
			}
		}
		return true
	})

	// A partition led by another node than the quorum leader, and a
	// follower that is neither: three distinct nodes.
	var p, leader, follower int32 = -1, -1, -1
	waitFor(t, "a partition led outside the quorum leader", func() bool {
		for i := range int32(3) {
			l, isr := partitionLeaderISR(t, adm, "im", i)
			if l > 0 && l != q && len(isr) == 3 {
				p, leader = i, l
				return true
			}
		}
		return false
	})
	follower = 6 - q - leader
	t.Logf("partition im-%d: leader %d, follower %d, quorum leader %d", p, leader, follower, q)
	before := tc.scrapeNode(int(leader - 1))
	tc.stop(int(follower - 1))
	waitFor(t, "the leader to count the ISR shrink", func() bool {
		return tc.scrapeNode(int(leader - 1))["eddy_isr_shrinks_total"] > before["eddy_isr_shrinks_total"]
	})
	tc.start(int(follower - 1))
	waitFor(t, "the leader to count the ISR expansion", func() bool {
		return tc.scrapeNode(int(leader - 1))["eddy_isr_expands_total"] > before["eddy_isr_expands_total"]
	})

	elections := tc.scrapeNode(int(q - 1))["eddy_leader_elections_total"]
	tc.stop(int(leader - 1))
	waitFor(t, "the quorum leader to count the leader elections", func() bool {
		return tc.scrapeNode(int(q - 1))["eddy_leader_elections_total"] > elections
	})
	if s := tc.scrapeNode(int(q - 1)); s["eddy_unclean_leader_elections_total"] != 0 {
		t.Errorf("%v unclean leader elections with unclean.leader.election.enable off", s["eddy_unclean_leader_elections_total"])
	}
	// The quorum leader's scrape holds every internal series.
	promtoolCheck(t, []byte(httpGet(t, "http://"+tc.nodes[q-1].HTTPAddr()+"/metrics", http.StatusOK)))
}

// partitionLeaderISR is topic/p's leader and ISR in the metadata, -1 and
// nil when it cannot be read.
func partitionLeaderISR(t *testing.T, adm *kadm.Client, topic string, p int32) (int32, []int32) {
	md, err := adm.Metadata(testContext(t), topic)
	if err != nil {
		return -1, nil
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok {
		return -1, nil
	}
	return pd.Leader, slices.Clone(pd.ISR)
}
