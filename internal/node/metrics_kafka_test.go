package node_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/node"
)

// kafkaSample is one scraped series: its labels and value.
type kafkaSample struct {
	labels map[string]string
	value  float64
}

// kafkaScrape is one parsed /metrics answer.
type kafkaScrape map[string]*dto.MetricFamily

// scrapeKafkaMetrics fetches /metrics from addr, checks it with promtool
// and parses it.
func scrapeKafkaMetrics(t *testing.T, addr string) kafkaScrape {
	t.Helper()
	s := &metricsScraper{url: "http://" + addr + "/metrics", client: http.DefaultClient}
	body := s.raw(t)
	promtoolCheck(t, body)
	return kafkaScrape(parseExposition(t, bytes.NewReader(body)))
}

// samples returns the series of one metric, nil if there are none.
func (s kafkaScrape) samples(name string) []kafkaSample {
	f := s[name]
	if f == nil {
		return nil
	}
	var out []kafkaSample
	for _, m := range f.GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		v := m.GetGauge().GetValue()
		if m.Untyped != nil { // the _sum series
			v = m.GetUntyped().GetValue()
		}
		out = append(out, kafkaSample{ls, v})
	}
	return out
}

// byLabels returns the series of name keyed by the values of keys, joined
// by "/"; a key seen twice fails the test.
func (s kafkaScrape) byLabels(t *testing.T, name string, keys ...string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range s.samples(name) {
		var parts []string
		for _, k := range keys {
			parts = append(parts, sm.labels[k])
		}
		key := strings.Join(parts, "/")
		if _, dup := out[key]; dup {
			t.Fatalf("%s{%s} twice", name, key)
		}
		out[key] = sm.value
	}
	return out
}

// withHTTP gives a node an HTTP listener on a free port.
func withKafkaMetricsHTTP(c *node.Config) { c.HTTPAddr = "127.0.0.1:0" }

// produceCounts produces counts[p] records to partition p of topic.
func produceCounts(t *testing.T, addr, topic string, counts []int) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p, n := range counts {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(testContext(t), rs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

// commitExact commits offsets[p] for partition p of topic as group, for
// every p with offsets[p] >= 0.
func commitExact(t *testing.T, adm *kadm.Client, group, topic string, offsets []int64) {
	t.Helper()
	var os kadm.Offsets
	for p, o := range offsets {
		if o >= 0 {
			os.Add(kadm.Offset{Topic: topic, Partition: int32(p), At: o, LeaderEpoch: -1})
		}
	}
	resp, err := adm.CommitOffsets(testContext(t), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("committing offsets of %q: %v", group, err)
	}
}

// checkGroupLag checks a group's series on topic against the log ends and
// its commits (-1: none, which must have no series).
func checkGroupLag(t *testing.T, s kafkaScrape, group, topic string, ends, committed []int64) {
	t.Helper()
	offsets := s.byLabels(t, "kafka_consumergroup_current_offset", "consumergroup", "topic", "partition")
	lags := s.byLabels(t, "kafka_consumergroup_lag", "consumergroup", "topic", "partition")
	var offsetSum, lagSum int64
	for p := range ends {
		key := group + "/" + topic + "/" + strconv.Itoa(p)
		off, hasOff := offsets[key]
		lag, hasLag := lags[key]
		if committed[p] < 0 {
			if hasOff || hasLag {
				t.Errorf("%s: no commit, but current_offset %v (%v) and lag %v (%v)", key, off, hasOff, lag, hasLag)
			}
			continue
		}
		offsetSum += committed[p]
		lagSum += ends[p] - committed[p]
		if !hasOff || int64(off) != committed[p] {
			t.Errorf("%s: current_offset %v (present %v), want %d", key, off, hasOff, committed[p])
		}
		if !hasLag || int64(lag) != ends[p]-committed[p] {
			t.Errorf("%s: lag %v (present %v), want %d - %d = %d", key, lag, hasLag, ends[p], committed[p], ends[p]-committed[p])
		}
	}
	sums := s.byLabels(t, "kafka_consumergroup_lag_sum", "consumergroup", "topic")
	if got, ok := sums[group+"/"+topic]; !ok || int64(got) != lagSum {
		t.Errorf("%s/%s: lag_sum %v (present %v), want %d", group, topic, got, ok, lagSum)
	}
	osums := s.byLabels(t, "kafka_consumergroup_current_offset_sum", "consumergroup", "topic")
	if got, ok := osums[group+"/"+topic]; !ok || int64(got) != offsetSum {
		t.Errorf("%s/%s: current_offset_sum %v (present %v), want %d", group, topic, got, ok, offsetSum)
	}
}

// checkSingleNodePartitions checks the per-partition series of topic, whose
// partitions are all led by node 1 with one replica.
func checkSingleNodePartitions(t *testing.T, s kafkaScrape, topic string, ends, starts []int64) {
	t.Helper()
	want := map[string]func(p int) float64{
		"kafka_topic_partition_current_offset":             func(p int) float64 { return float64(ends[p]) },
		"kafka_topic_partition_oldest_offset":              func(p int) float64 { return float64(starts[p]) },
		"kafka_topic_partition_leader":                     func(int) float64 { return 1 },
		"kafka_topic_partition_replicas":                   func(int) float64 { return 1 },
		"kafka_topic_partition_in_sync_replica":            func(int) float64 { return 1 },
		"kafka_topic_partition_leader_is_preferred":        func(int) float64 { return 1 },
		"kafka_topic_partition_under_replicated_partition": func(int) float64 { return 0 },
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got := s.byLabels(t, name, "topic", "partition")
		for p := range ends {
			key := topic + "/" + strconv.Itoa(p)
			if v, ok := got[key]; !ok || v != want[name](p) {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, key, v, ok, want[name](p))
			}
		}
	}
	if got := s.byLabels(t, "kafka_topic_partitions", "topic")[topic]; got != float64(len(ends)) {
		t.Errorf("kafka_topic_partitions{%s} = %v, want %d", topic, got, len(ends))
	}
}

// TestKafkaMetricsSingleNode: a node whose groups consumed part of a
// topic exports kafka_exporter's series: offsets, the partitions'
// metadata, per-partition lag equal to log end minus the commit exactly
// (and none where nothing was committed), lag sums, members of a live
// classic and a live KIP-848 group, the log start after DeleteRecords; a
// group name that needs escaping in the text format round-trips, and one
// that is not UTF-8 is left out without breaking the scrape.
func TestKafkaMetricsSingleNode(t *testing.T) {
	tn := startNode(t, "", nil, withKafkaMetricsHTTP)
	addr, httpAddr := tn.KafkaAddr(), tn.HTTPAddr()
	adm := newAdmin(t, addr)
	const topic = "lagged"
	createTopic(t, adm, topic, 4, nil)
	counts := []int{10, 25, 7, 12}
	produceCounts(t, addr, topic, counts)
	ends := []int64{10, 25, 7, 12}

	const group = "live-classic"
	committed := []int64{4, 25, 0, -1} // partition 3: nothing committed
	commitExact(t, adm, group, topic, committed)
	odd := "q\"uote\\back\nslash ünï ✓ {x=\"y\"}"
	oddCommitted := []int64{1, 2, 3, 4}
	commitExact(t, adm, odd, topic, oddCommitted)
	commitExact(t, adm, "not-utf8-\xff", topic, []int64{1, 1, 1, 1})
	const kip848 = "live-kip848"
	commitExact(t, adm, kip848, topic, []int64{5, 5, 5, 5})

	// Live members that never commit: the offsets above stay as they are.
	for _, g := range []struct {
		name string
		opts []kgo.Opt
	}{{group, nil}, {kip848, []kgo.Opt{kgo.ServerSideBalancer()}}} {
		opts := append([]kgo.Opt{kgo.ConsumerGroup(g.name), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit()}, g.opts...)
		cl := newClient(t, addr, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl.PollFetches(ctx) // joins the group
		cancel()
	}
	var s kafkaScrape
	waitFor(t, "both live groups to show one member", func() bool {
		s = scrapeKafkaMetrics(t, httpAddr)
		m := s.byLabels(t, "kafka_consumergroup_members", "consumergroup")
		return m[group] == 1 && m[kip848] == 1
	})

	if m := s.byLabels(t, "kafka_consumergroup_members", "consumergroup"); m[odd] != 0 || len(m) != 3 {
		t.Errorf("kafka_consumergroup_members = %v, want %q and %q at 1 and %q at 0, and no other", m, group, kip848, odd)
	}
	if b := s.samples("kafka_brokers"); len(b) != 1 || b[0].value != 1 {
		t.Errorf("kafka_brokers = %v, want one series, 1", b)
	}
	checkSingleNodePartitions(t, s, topic, ends, []int64{0, 0, 0, 0})
	checkGroupLag(t, s, group, topic, ends, committed)
	checkGroupLag(t, s, odd, topic, ends, oddCommitted)
	checkGroupLag(t, s, kip848, topic, ends, []int64{5, 5, 5, 5})
	for _, name := range []string{"kafka_consumergroup_current_offset", "kafka_consumergroup_lag", "kafka_consumergroup_members"} {
		for _, sm := range s.samples(name) {
			if strings.HasPrefix(sm.labels["consumergroup"], "not-utf8-") {
				t.Errorf("%s has the group whose name is not UTF-8: %q", name, sm.labels["consumergroup"])
			}
		}
	}

	// DeleteRecords moves the oldest offset; more records move the
	// current offset and the lag.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: topic, Partition: 1, At: 9, LeaderEpoch: -1})
	if resp, err := adm.DeleteRecords(testContext(t), del); err != nil || resp.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, resp.Error())
	}
	produceCounts(t, addr, topic, []int{3})
	ends[0] += 3
	s = scrapeKafkaMetrics(t, httpAddr)
	checkSingleNodePartitions(t, s, topic, ends, []int64{0, 9, 0, 0})
	checkGroupLag(t, s, group, topic, ends, committed)
}

// TestKafkaMetricsCluster: scraping every node of a three-node cluster
// yields each partition's series once, one kafka_brokers and one
// kafka_topic_partitions per topic, and a group's lag is exact on
// partitions led by other nodes than the group's coordinator, whose high
// watermarks it asks those leaders for.
func TestKafkaMetricsCluster(t *testing.T) {
	c := newTestCluster(t, 3, withKafkaMetricsHTTP)
	adm := kadm.NewClient(newClient(t, c.seeds()[0]))
	const topic = "spread"
	createTopicRF(t, adm, topic, 6, 1, nil)
	c.waitTopicEverywhere(topic)
	counts := []int{3, 14, 1, 9, 20, 6}
	produceCounts(t, c.seeds()[0], topic, counts)
	ends := []int64{3, 14, 1, 9, 20, 6}
	const group = "across"
	committed := []int64{1, 14, 0, 2, -1, 5}
	commitExact(t, adm, group, topic, committed)

	coords := adm.FindGroupCoordinators(testContext(t), group)
	coord, ok := coords[group]
	if !ok || coord.Err != nil {
		t.Fatalf("finding the coordinator of %s: %v", group, coord.Err)
	}
	md, err := adm.Metadata(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := 0
	for _, p := range md.Topics[topic].Partitions {
		if p.Leader != coord.NodeID {
			elsewhere++
		}
	}
	if elsewhere == 0 {
		t.Fatalf("every partition of %s is led by the coordinator %d: nothing to check", topic, coord.NodeID)
	}

	// A new topic's leaders take their partitions a moment after the
	// metadata names them; until then they export no offsets.
	var merged kafkaScrape
	waitFor(t, "every partition's current offset exported", func() bool {
		merged = scrapeKafkaCluster(t, c, group, coord.NodeID)
		got := merged.byLabels(t, "kafka_topic_partition_current_offset", "topic", "partition")
		return len(got) == int(kafkaSum(merged.byLabels(t, "kafka_topic_partitions", "topic")))
	})

	// byLabels fails on a series seen twice across the nodes.
	if b := merged.samples("kafka_brokers"); len(b) != 1 || b[0].value != 3 {
		t.Errorf("kafka_brokers across the cluster = %v, want one series, 3", b)
	}
	parts := merged.byLabels(t, "kafka_topic_partitions", "topic")
	for _, name := range []string{"kafka_topic_partition_current_offset", "kafka_topic_partition_oldest_offset",
		"kafka_topic_partition_leader", "kafka_topic_partition_replicas", "kafka_topic_partition_in_sync_replica",
		"kafka_topic_partition_leader_is_preferred", "kafka_topic_partition_under_replicated_partition"} {
		got := merged.byLabels(t, name, "topic", "partition")
		for tp, n := range parts {
			for p := range int(n) {
				if _, ok := got[tp+"/"+strconv.Itoa(p)]; !ok {
					t.Errorf("no node exports %s{%s/%d}", name, tp, p)
				}
			}
		}
		if want := int(kafkaSum(parts)); len(got) != want {
			t.Errorf("%s: %d series across the cluster, want one per partition: %d", name, len(got), want)
		}
	}
	leaders := merged.byLabels(t, "kafka_topic_partition_leader", "topic", "partition")
	offsets := merged.byLabels(t, "kafka_topic_partition_current_offset", "topic", "partition")
	for p, mp := range md.Topics[topic].Partitions {
		key := topic + "/" + strconv.Itoa(int(p))
		if leaders[key] != float64(mp.Leader) || offsets[key] != float64(ends[p]) {
			t.Errorf("%s: leader %v, current_offset %v; want %d and %d", key, leaders[key], offsets[key], mp.Leader, ends[p])
		}
	}
	checkGroupLag(t, merged, group, topic, ends, committed)

	// Stop a node that is neither the controller nor the coordinator: the
	// partitions it alone held go offline, and the controller exports
	// them with leader -1 and no offsets; their lag is unknown, so it and
	// the topic's lag_sum are left out.
	victim := int32(-1)
	for id := int32(1); id <= 3; id++ {
		leads := slices.ContainsFunc(slices.Collect(maps.Values(md.Topics[topic].Partitions)), func(p kadm.PartitionDetail) bool { return p.Leader == id })
		if id != md.Controller && id != coord.NodeID && leads {
			victim = id
		}
	}
	if victim < 0 {
		t.Logf("controller %d and coordinator %d are the same node; skipping the offline phase", md.Controller, coord.NodeID)
		return
	}
	c.stop(int(victim - 1))
	var offline []string
	for p, mp := range md.Topics[topic].Partitions {
		if mp.Leader == victim {
			offline = append(offline, topic+"/"+strconv.Itoa(int(p)))
		}
	}
	waitFor(t, "the stopped node's partitions to show leader -1", func() bool {
		merged = scrapeKafkaCluster(t, c, group, coord.NodeID)
		leaders := merged.byLabels(t, "kafka_topic_partition_leader", "topic", "partition")
		for _, key := range offline {
			if v, ok := leaders[key]; !ok || v != -1 {
				return false
			}
		}
		return true
	})
	if b := merged.samples("kafka_brokers"); len(b) != 1 || b[0].value != 2 {
		t.Errorf("kafka_brokers with one node stopped = %v, want one series, 2", b)
	}
	offsets = merged.byLabels(t, "kafka_topic_partition_current_offset", "topic", "partition")
	lags := merged.byLabels(t, "kafka_consumergroup_lag", "consumergroup", "topic", "partition")
	replicas := merged.byLabels(t, "kafka_topic_partition_replicas", "topic", "partition")
	for p := range ends {
		key := topic + "/" + strconv.Itoa(p)
		_, hasOffset := offsets[key]
		lag, hasLag := lags[group+"/"+key]
		if slices.Contains(offline, key) {
			if hasOffset || hasLag {
				t.Errorf("offline %s: current_offset present %v, lag present %v; want neither", key, hasOffset, hasLag)
			}
			// As in Kafka, the last replica stays in the ISR of a
			// partition it alone held: not under-replicated, offline.
			if v, ok := replicas[key]; !ok || v != 1 {
				t.Errorf("offline %s: replicas %v (present %v), want 1", key, v, ok)
			}
			continue
		}
		if committed[p] >= 0 && (!hasLag || int64(lag) != ends[p]-committed[p]) {
			t.Errorf("%s: lag %v (present %v), want %d", key, lag, hasLag, ends[p]-committed[p])
		}
	}
	if sums := merged.byLabels(t, "kafka_consumergroup_lag_sum", "consumergroup", "topic"); len(sums) != 0 {
		t.Errorf("lag_sum with partitions offline = %v, want none", sums)
	}
}

// scrapeKafkaCluster scrapes every node and merges their kafka_ series;
// only coord exports group's.
func scrapeKafkaCluster(t *testing.T, c *testCluster, group string, coord int32) kafkaScrape {
	t.Helper()
	merged := kafkaScrape{}
	for i, tn := range c.nodes {
		if tn == nil || tn.Node == nil {
			continue // stopped
		}
		s := scrapeKafkaMetrics(t, tn.HTTPAddr())
		for name, f := range s {
			if !strings.HasPrefix(name, "kafka_") {
				continue
			}
			if merged[name] == nil {
				merged[name] = f
				continue
			}
			merged[name].Metric = append(merged[name].Metric, f.Metric...)
		}
		if groups := s.byLabels(t, "kafka_consumergroup_members", "consumergroup"); int32(i+1) == coord {
			if _, ok := groups[group]; !ok {
				t.Errorf("coordinator %d does not export %s's members", i+1, group)
			}
		} else if len(groups) > 0 {
			t.Errorf("node %d, not the coordinator, exports groups %v", i+1, groups)
		}
	}

	return merged
}

func kafkaSum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}
