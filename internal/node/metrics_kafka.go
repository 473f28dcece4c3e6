package node

// kafka_exporter's series (github.com/danielqsj/kafka_exporter), computed
// at scrape time from the node's own state, so that the Grafana dashboards
// built for it work unchanged against Eddy without another exporter.

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/meta"
)

const (
	// kafkaCollectTimeout bounds one collection, well inside scrapeTimeout:
	// what is not known by then is left out of the scrape.
	kafkaCollectTimeout = 5 * time.Second
	// remoteOffsetsTimeout bounds the ListOffsets a collection sends each
	// other leader for the high watermarks consumer lag needs.
	remoteOffsetsTimeout = 2 * time.Second
	// kafkaWarnEvery spaces out repeats of one collection warning: a
	// failing peer would otherwise log once per scrape.
	kafkaWarnEvery = time.Minute
)

func kafkaDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	kafkaTPLabels = []string{"topic", "partition"}

	kafkaBrokersDesc    = kafkaDesc("kafka_brokers", "Live (unfenced) brokers in the cluster; exported by the controller.")
	kafkaBrokerInfoDesc = kafkaDesc("kafka_broker_info", "Always 1 per live broker; its labels give the broker id and advertised address.", "id", "address")
	kafkaPartitionsDesc = kafkaDesc("kafka_topic_partitions", "Partitions the topic has; exported by the controller.", "topic")

	kafkaCurrentOffsetDesc   = kafkaDesc("kafka_topic_partition_current_offset", "High watermark of the partition: the offset the next record consumers can read will get; exported by its leader.", kafkaTPLabels...)
	kafkaOldestOffsetDesc    = kafkaDesc("kafka_topic_partition_oldest_offset", "Log start offset of the partition: the oldest offset still held; exported by its leader.", kafkaTPLabels...)
	kafkaLeaderDesc          = kafkaDesc("kafka_topic_partition_leader", "Broker id of the partition leader, -1 when it has none.", kafkaTPLabels...)
	kafkaReplicasDesc        = kafkaDesc("kafka_topic_partition_replicas", "Replicas assigned to the partition.", kafkaTPLabels...)
	kafkaInSyncDesc          = kafkaDesc("kafka_topic_partition_in_sync_replica", "Replicas of the partition in its ISR.", kafkaTPLabels...)
	kafkaPreferredDesc       = kafkaDesc("kafka_topic_partition_leader_is_preferred", "1 when the partition is led by its first (preferred) replica, else 0.", kafkaTPLabels...)
	kafkaUnderReplicatedDesc = kafkaDesc("kafka_topic_partition_under_replicated_partition", "1 when fewer replicas of the partition are in sync than assigned, else 0.", kafkaTPLabels...)

	kafkaGroupOffsetDesc    = kafkaDesc("kafka_consumergroup_current_offset", "Offset the consumer group has committed for the partition; exported by its coordinator.", "consumergroup", "topic", "partition")
	kafkaGroupOffsetSumDesc = kafkaDesc("kafka_consumergroup_current_offset_sum", "Committed offsets of the consumer group summed over the partitions of the topic.", "consumergroup", "topic")
	kafkaGroupLagDesc       = kafkaDesc("kafka_consumergroup_lag", "High watermark minus the offset the consumer group committed for the partition.", "consumergroup", "topic", "partition")
	kafkaGroupLagSumDesc    = kafkaDesc("kafka_consumergroup_lag_sum", "Lag of the consumer group summed over the partitions of the topic.", "consumergroup", "topic")
	kafkaGroupMembersDesc   = kafkaDesc("kafka_consumergroup_members", "Members the consumer group has now (0 when empty).", "consumergroup")
)

// kafkaCollector exports kafka_exporter's series with its names, labels
// and meanings (the help texts are our own):
//
//   - kafka_topic_partition_current_offset: the newest offset a consumer
//     can read (the high watermark, what ListOffsets answers for -1);
//     kafka_topic_partition_oldest_offset: the log start offset.
//   - kafka_topic_partition_leader: the leader's broker id;
//     _replicas and _in_sync_replica: how many replicas and in-sync
//     replicas; _leader_is_preferred: 1 if the leader is the first replica;
//     _under_replicated_partition: 1 if fewer replicas are in sync than
//     assigned.
//   - kafka_consumergroup_current_offset: a group's committed offset;
//     kafka_consumergroup_lag: current_offset of the partition minus it
//     (negative if the commit is past the high watermark, as
//     kafka_exporter shows it); the _sum series add them up per topic;
//     kafka_consumergroup_members: a group's members (0 when Empty).
//
// Every node serves these, and a scrape of every node counts each thing
// once, because each series comes from one node:
//
//   - kafka_brokers (the live, unfenced brokers), kafka_broker_info and
//     kafka_topic_partitions{topic}: the controller, the metadata quorum's
//     leader (a standalone node is its own).
//   - a partition's kafka_topic_partition_* series: its leader, as the
//     metadata this node holds names it; the offsets only once its replica
//     has taken the leadership (for a moment after a leader change, none).
//     A partition without a live leader (offline) gets its replicas,
//     in_sync_replica, under_replicated_partition, leader_is_preferred (0)
//     and leader (-1) from the controller, and no offsets.
//   - kafka_consumergroup_* of a group: its coordinator (the leader of the
//     group's __consumer_offsets partition).
//
// Where kafka_exporter differs, this does not follow it: a partition a
// group has no committed offset for gets no series (kafka_exporter shows
// offset and lag -1 on the other partitions of a topic the group
// consumes), and a lag this node cannot compute exactly (the partition's
// leader did not answer in time, or the topic is gone) is left out, with
// the topic's lag_sum, rather than shown wrong. A group whose name is not
// valid UTF-8, which a Prometheus label cannot hold, is left out.
type kafkaCollector struct {
	self       int32
	log        *slog.Logger
	meta       *meta.Store
	replicas   *replicas
	broker     *broker.Broker
	controller func() int32
	peers      *kgo.Client // nil on a standalone node
	warned     kafkaWarner
}

func newKafkaCollector(n *Node) *kafkaCollector {
	return &kafkaCollector{self: n.cfg.NodeID, log: n.log, meta: n.meta, replicas: n.replicas,
		broker: n.broker, controller: n.controllerID, peers: n.replicas.client}
}

// Describe sends every series' description.
func (c *kafkaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{kafkaBrokersDesc, kafkaBrokerInfoDesc, kafkaPartitionsDesc,
		kafkaCurrentOffsetDesc, kafkaOldestOffsetDesc, kafkaLeaderDesc, kafkaReplicasDesc, kafkaInSyncDesc,
		kafkaPreferredDesc, kafkaUnderReplicatedDesc, kafkaGroupOffsetDesc, kafkaGroupOffsetSumDesc,
		kafkaGroupLagDesc, kafkaGroupLagSumDesc, kafkaGroupMembersDesc} {
		ch <- d
	}
}

// Collect computes the series from this node's metadata image, replicas
// and group coordinators.
func (c *kafkaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaCollectTimeout)
	defer cancel()
	img := c.meta.Image()
	isController := c.controller() == c.self
	if isController {
		c.collectBrokers(ch, img)
	}
	hw := c.collectPartitions(ch, img, isController)
	c.collectGroups(ctx, ch, img, hw)
}

func kafkaGauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// kafkaSum sends one of kafka_exporter's two _sum series untyped: as a
// gauge the name breaks the rule that only histograms and summaries end in
// _sum (promtool check metrics refuses it), and PromQL and the dashboards
// querying it make no difference between a gauge and an untyped series.
func kafkaSum(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.UntypedValue, v, labels...)
}

// live reports whether a broker may lead: registered and unfenced on a
// cluster; on a standalone node, which registers no brokers, itself.
func (c *kafkaCollector) live(img *meta.Image) func(int32) bool {
	if len(img.Brokers()) == 0 {
		return func(id int32) bool { return id == c.self }
	}
	return img.Live
}

func (c *kafkaCollector) collectBrokers(ch chan<- prometheus.Metric, img *meta.Image) {
	brokers := img.LiveBrokers()
	if len(img.Brokers()) == 0 {
		kafkaGauge(ch, kafkaBrokersDesc, 1)
		return
	}
	kafkaGauge(ch, kafkaBrokersDesc, float64(len(brokers)))
	for _, b := range brokers {
		kafkaGauge(ch, kafkaBrokerInfoDesc, 1, strconv.Itoa(int(b.ID)), net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
}

// kafkaTP names one partition.
type kafkaTP struct {
	topic     string
	partition int32
}

// collectPartitions sends the series of the partitions this node leads,
// and on the controller those of the offline ones; it returns the high
// watermarks it read.
func (c *kafkaCollector) collectPartitions(ch chan<- prometheus.Metric, img *meta.Image, isController bool) map[kafkaTP]int64 {
	live := c.live(img)
	selfLive := live(c.self)
	hw := make(map[kafkaTP]int64)
	for _, t := range img.Topics() {
		if isController {
			kafkaGauge(ch, kafkaPartitionsDesc, float64(len(t.Assignments)), t.Name)
		}
		for i, p := range t.Assignments {
			offline := p.Leader < 0 || !live(p.Leader)
			switch {
			case p.Leader == c.self && selfLive:
			case offline && isController:
				p.Leader = -1
			default:
				continue
			}
			labels := []string{t.Name, strconv.Itoa(i)}
			c.partitionMeta(ch, p, labels)
			if p.Leader < 0 {
				continue
			}
			part, err := c.replicas.Partition(t.Name, int32(i))
			if err != nil || part.Offline() != nil {
				continue // not led here yet, or its log is offline
			}
			high := part.HighWatermark()
			hw[kafkaTP{t.Name, int32(i)}] = high
			kafkaGauge(ch, kafkaCurrentOffsetDesc, float64(high), labels...)
			kafkaGauge(ch, kafkaOldestOffsetDesc, float64(part.LogStartOffset()), labels...)
		}
	}
	return hw
}

// partitionMeta sends what the metadata says of a partition.
func (c *kafkaCollector) partitionMeta(ch chan<- prometheus.Metric, p meta.Partition, labels []string) {
	kafkaGauge(ch, kafkaLeaderDesc, float64(p.Leader), labels...)
	kafkaGauge(ch, kafkaReplicasDesc, float64(len(p.Replicas)), labels...)
	kafkaGauge(ch, kafkaInSyncDesc, float64(len(p.ISR)), labels...)
	kafkaGauge(ch, kafkaPreferredDesc, kafkaBool(p.Leader >= 0 && len(p.Replicas) > 0 && p.Leader == p.Replicas[0]), labels...)
	kafkaGauge(ch, kafkaUnderReplicatedDesc, kafkaBool(len(p.ISR) < len(p.Replicas)), labels...)
}

func kafkaBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// kafkaGroup is a group this node coordinates.
type kafkaGroup struct {
	name     string
	consumer bool // a KIP-848 consumer group; else classic
}

// collectGroups sends the series of the groups this node coordinates.
// hw holds the high watermarks of the partitions led here; those of the
// others are asked of their leaders.
func (c *kafkaCollector) collectGroups(ctx context.Context, ch chan<- prometheus.Metric, img *meta.Image, hw map[kafkaTP]int64) {
	groups := c.listGroups(ctx)
	if len(groups) == 0 {
		return
	}
	for name, n := range c.groupMembers(ctx, groups) {
		kafkaGauge(ch, kafkaGroupMembersDesc, float64(n), name)
	}
	committed := c.committedOffsets(ctx, groups)
	var missing []kafkaTP
	for _, offsets := range committed {
		for k := range offsets {
			if _, ok := hw[k]; !ok {
				missing = append(missing, k)
			}
		}
	}
	maps.Copy(hw, c.remoteHighWatermarks(ctx, img, missing))
	for _, g := range slices.Sorted(maps.Keys(committed)) {
		c.groupOffsets(ch, g, committed[g], hw)
	}
}

// listGroups returns the groups coordinated here whose names a label can
// hold. A coordinator still loading leaves its groups out until it is done.
func (c *kafkaCollector) listGroups(ctx context.Context) []kafkaGroup {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	r, err := c.broker.GroupRequest(ctx, req)
	if err != nil {
		c.warned.warn(c.log, "metrics: listing groups failed", "err", err)
		return nil
	}
	var out []kafkaGroup
	for _, g := range r.(*kmsg.ListGroupsResponse).Groups {
		if !utf8.ValidString(g.Group) {
			c.warned.warn(c.log, "metrics: group name is not UTF-8; left out", "group", g.Group)
			continue
		}
		out = append(out, kafkaGroup{name: g.Group, consumer: g.GroupType == "consumer"})
	}
	return out
}

// groupMembers counts each group's members: DescribeGroups for classic
// groups, ConsumerGroupDescribe for KIP-848 ones.
func (c *kafkaCollector) groupMembers(ctx context.Context, groups []kafkaGroup) map[string]int {
	classic := kmsg.NewPtrDescribeGroupsRequest()
	classic.Version = 5
	consumer := kmsg.NewPtrConsumerGroupDescribeRequest()
	for _, g := range groups {
		if g.consumer {
			consumer.Groups = append(consumer.Groups, g.name)
		} else {
			classic.Groups = append(classic.Groups, g.name)
		}
	}
	out := make(map[string]int, len(groups))
	if len(classic.Groups) > 0 {
		if r, err := c.broker.GroupRequest(ctx, classic); err != nil {
			c.warned.warn(c.log, "metrics: describing groups failed", "err", err)
		} else {
			for _, g := range r.(*kmsg.DescribeGroupsResponse).Groups {
				if g.ErrorCode == 0 {
					out[g.Group] = len(g.Members)
				}
			}
		}
	}
	if len(consumer.Groups) > 0 {
		if r, err := c.broker.GroupRequest(ctx, consumer); err != nil {
			c.warned.warn(c.log, "metrics: describing consumer groups failed", "err", err)
		} else {
			for _, g := range r.(*kmsg.ConsumerGroupDescribeResponse).Groups {
				if g.ErrorCode == 0 {
					out[g.Group] = len(g.Members)
				}
			}
		}
	}
	return out
}

// committedOffsets returns every offset each group has committed.
func (c *kafkaCollector) committedOffsets(ctx context.Context, groups []kafkaGroup) map[string]map[kafkaTP]int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8 // several groups in one request; nil topics: all
	for _, g := range groups {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g.name
		req.Groups = append(req.Groups, rg)
	}
	r, err := c.broker.GroupRequest(ctx, req)
	if err != nil {
		c.warned.warn(c.log, "metrics: fetching group offsets failed", "err", err)
		return nil
	}
	out := make(map[string]map[kafkaTP]int64)
	for _, g := range r.(*kmsg.OffsetFetchResponse).Groups {
		if g.ErrorCode != 0 {
			continue
		}
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 || p.Offset < 0 {
					continue
				}
				if out[g.Group] == nil {
					out[g.Group] = make(map[kafkaTP]int64)
				}
				out[g.Group][kafkaTP{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return out
}

// remoteHighWatermarks asks the leaders of partitions led elsewhere for
// their high watermarks: one ListOffsets per leader, all at once, each
// bounded by remoteOffsetsTimeout. A partition whose leader is unknown,
// did not answer or answered an error is left out.
func (c *kafkaCollector) remoteHighWatermarks(ctx context.Context, img *meta.Image, parts []kafkaTP) map[kafkaTP]int64 {
	byLeader := make(map[int32][]kafkaTP)
	for _, k := range parts {
		t, ok := img.Topic(k.topic)
		if !ok || k.partition < 0 || int(k.partition) >= len(t.Assignments) {
			continue // gone: no lag to show
		}
		if leader := t.Assignments[k.partition].Leader; leader >= 0 && leader != c.self {
			byLeader[leader] = append(byLeader[leader], k)
		}
	}
	out := make(map[kafkaTP]int64)
	if len(byLeader) == 0 {
		return out
	}
	if c.peers == nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, ks := range byLeader {
		wg.Go(func() {
			got := c.listHighWatermarks(ctx, leader, ks)
			mu.Lock()
			maps.Copy(out, got)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// listHighWatermarks sends one ListOffsets (latest) to leader.
func (c *kafkaCollector) listHighWatermarks(ctx context.Context, leader int32, parts []kafkaTP) map[kafkaTP]int64 {
	ctx, cancel := context.WithTimeout(ctx, remoteOffsetsTimeout)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	byTopic := make(map[string][]int32)
	for _, k := range parts {
		byTopic[k.topic] = append(byTopic[k.topic], k.partition)
	}
	for topic, ps := range byTopic {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1 // -1: latest, the high watermark
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	r, err := c.peers.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		c.warned.warn(c.log, "metrics: asking a leader for high watermarks failed; lag left out", "leader", leader, "err", err)
		return nil
	}
	out := make(map[kafkaTP]int64)
	for _, t := range r.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.Offset >= 0 {
				out[kafkaTP{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return out
}

// groupOffsets sends one group's committed offsets and lag.
func (c *kafkaCollector) groupOffsets(ch chan<- prometheus.Metric, group string, committed map[kafkaTP]int64, hw map[kafkaTP]int64) {
	keys := slices.SortedFunc(maps.Keys(committed), func(a, b kafkaTP) int {
		if a.topic != b.topic {
			return strings.Compare(a.topic, b.topic)
		}
		return cmp.Compare(a.partition, b.partition)
	})
	for i := 0; i < len(keys); {
		topic := keys[i].topic
		var offsetSum, lagSum int64
		lagKnown := true
		for ; i < len(keys) && keys[i].topic == topic; i++ {
			k := keys[i]
			partition := strconv.Itoa(int(k.partition))
			offset := committed[k]
			offsetSum += offset
			kafkaGauge(ch, kafkaGroupOffsetDesc, float64(offset), group, topic, partition)
			high, ok := hw[k]
			if !ok {
				lagKnown = false
				continue
			}
			lagSum += high - offset
			kafkaGauge(ch, kafkaGroupLagDesc, float64(high-offset), group, topic, partition)
		}
		kafkaSum(ch, kafkaGroupOffsetSumDesc, float64(offsetSum), group, topic)
		if lagKnown {
			kafkaSum(ch, kafkaGroupLagSumDesc, float64(lagSum), group, topic)
		}
	}
}

// kafkaWarner logs each warning message at most once per kafkaWarnEvery.
type kafkaWarner struct {
	mu   sync.Mutex
	last map[string]time.Time // by message
}

func (r *kafkaWarner) warn(log *slog.Logger, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if t, ok := r.last[msg]; ok && now.Sub(t) < kafkaWarnEvery {
		r.mu.Unlock()
		return
	}
	if r.last == nil {
		r.last = make(map[string]time.Time)
	}
	r.last[msg] = now
	r.mu.Unlock()
	log.Warn(msg, args...)
}
