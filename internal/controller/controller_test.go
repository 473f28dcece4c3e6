package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// TestController drives a controller over a real store through the
// scripts in testdata/. Topic IDs count up from 1. Regenerate with
// -rewrite.
func TestController(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{t: t}
		datadriven.RunTest(t, path, h.run)
	})
}

type harness struct {
	t     *testing.T
	store *meta.Store
	c     *Controller
	reg   *prometheus.Registry
	ids   byte
}

func (h *harness) init(td *datadriven.TestData) {
	settings := map[string]string{}
	for _, a := range td.CmdArgs {
		settings[a.Key] = a.Vals[0]
	}
	bc, err := config.ParseBrokerConfig(settings)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.store, err = meta.Open(h.t.TempDir(), 1, nil); err != nil {
		h.t.Fatal(err)
	}
	h.ids = 0
	newID := func(func([16]byte) bool) [16]byte { h.ids++; return [16]byte{15: h.ids} }
	if h.c, err = New(Config{Store: h.store, Node: 1, Settings: bc, NewID: newID}); err != nil {
		h.t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	h.reg.MustRegister(h.c.Collectors()...)
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if h.c == nil && td.Cmd != "init" {
		h.init(&datadriven.TestData{})
	}
	switch td.Cmd {
	case "init":
		h.init(td)
		return "ok"
	case "create", "validate":
		nt := NewTopic{Name: arg(td, "name", ""), Partitions: int32(intArg(td, "partitions", -1)),
			ReplicationFactor: int16(intArg(td, "rf", -1)), Configs: configsArg(td), Assignment: assignArg(td)}
		rec, err := h.c.PlanTopic(nt)
		if err == nil && td.Cmd == "create" {
			_, err = h.c.CreateTopic(rec)
		}
		return result(err, fmt.Sprintf("id=%d partitions=%d", rec.ID[15], len(rec.Partitions)))
	case "delete":
		tp, err := h.c.DeleteTopic(arg(td, "name", ""))
		return result(err, fmt.Sprintf("was id=%d", tp.ID[15]))
	case "grow":
		_, records, err := h.c.PlanPartitions(arg(td, "name", ""), int32(intArg(td, "total", 0)), assignArg(td))
		if err == nil {
			err = h.c.AddPartitions(records)
		}
		return result(err, fmt.Sprintf("%d records", len(records)))
	case "alter-topic-configs":
		return result(h.c.AlterTopicConfigs(arg(td, "name", ""), configsArg(td), td.HasArg("validate-only")), "")
	case "alter-broker-configs":
		return result(h.c.AlterBrokerConfigs(arg(td, "name", "") != "", configsArg(td), td.HasArg("validate-only")), "")
	case "alter-group-configs":
		return result(h.c.AlterGroupConfigs(arg(td, "name", ""), configsArg(td), td.HasArg("validate-only")), "")
	case "image":
		return dump(h.store.Image())
	case "metrics":
		return h.metrics()
	case "alter-scram":
		return alterScram(h.c, td)
	case "bootstrap-user":
		created, err := h.c.BootstrapUser(arg(td, "user", ""), arg(td, "password", ""))
		return result(err, fmt.Sprintf("created=%v", created))
	case "register":
		b := meta.Broker{ID: int32(intArg(td, "id", 0)), Host: "h", Port: 9092, Rack: arg(td, "rack", ""), Epoch: int64(intArg(td, "epoch", 1))}
		return result(h.c.RegisterBroker(b), "")
	case "fence", "unfence":
		id := int32(intArg(td, "id", 0))
		b, _ := h.store.Image().Broker(id)
		epoch := int64(intArg(td, "epoch", int(b.Epoch)))
		if td.Cmd == "fence" {
			return result(h.c.FenceBroker(id, epoch), "")
		}
		return result(h.c.UnfenceBroker(id, epoch), "")
	case "alter-isr":
		epoch, err := h.c.AlterPartition(arg(td, "name", ""), int32(intArg(td, "partition", 0)), int32(intArg(td, "leader", 0)),
			int32(intArg(td, "leader-epoch", 0)), int32(intArg(td, "partition-epoch", 0)), int32sArg(td, "isr"))
		return result(err, fmt.Sprintf("partition-epoch=%d", epoch))
	case "elect":
		var tps []TopicPartition
		if name := arg(td, "name", ""); name != "" {
			tps = []TopicPartition{{name, int32(intArg(td, "partition", 0))}}
		}
		out, err := h.c.ElectLeaders(tps, td.HasArg("unclean"))
		if err != nil {
			return result(err, "")
		}
		var lines []string
		for _, tp := range slices.SortedFunc(maps.Keys(out), func(a, b TopicPartition) int {
			return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
		}) {
			lines = append(lines, fmt.Sprintf("%s-%d: %s", tp.Topic, tp.Partition, result(out[tp], "")))
		}
		return strings.Join(lines, "\n")
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return ""
}

// result prints an outcome, naming the kind of error so the scripts show
// the class the handlers map to a Kafka code.
func result(err error, ok string) string {
	if err == nil {
		return strings.TrimSpace("ok " + ok)
	}
	var le *LimitError
	class := "other"
	for _, c := range []struct {
		name string
		is   bool
	}{
		{"topic-exists", errors.Is(err, meta.ErrTopicExists)},
		{"unknown-topic", errors.Is(err, meta.ErrUnknownTopic)},
		{"invalid-topic", errors.Is(err, meta.ErrInvalidTopic)},
		{"invalid-partitions", errors.Is(err, meta.ErrInvalidPartitions)},
		{"invalid-replication-factor", errors.Is(err, meta.ErrInvalidReplicationFactor)},
		{"invalid-replica-assignment", errors.Is(err, meta.ErrInvalidReplicaAssignment)},
		{"invalid-config", errors.Is(err, config.ErrInvalidConfig)},
		{"limit", errors.As(err, &le)},
		{"fenced-leader-epoch", errors.Is(err, ErrFencedLeaderEpoch)},
		{"invalid-update-version", errors.Is(err, ErrInvalidUpdateVersion)},
		{"ineligible-replica", errors.Is(err, ErrIneligibleReplica)},
		{"unknown-broker", errors.Is(err, ErrUnknownBroker)},
		{"election-not-needed", errors.Is(err, ErrElectionNotNeeded)},
		{"preferred-leader-not-available", errors.Is(err, ErrPreferredLeaderNotAvailable)},
		{"eligible-leaders-not-available", errors.Is(err, ErrEligibleLeadersNotAvailable)},
		{"unacceptable-credential", errors.Is(err, ErrUnacceptableCredential)},
		{"unsupported-mechanism", errors.Is(err, ErrUnsupportedMechanism)},
		{"duplicate-user", errors.Is(err, ErrDuplicateUser)},
		{"unknown-credential", errors.Is(err, meta.ErrUnknownScramCredential)},
	} {
		if c.is {
			class = c.name
			break
		}
	}
	return fmt.Sprintf("error %s: %v", class, err)
}

func dump(img *meta.Image) string {
	var b strings.Builder
	for _, t := range img.Topics() {
		fmt.Fprintf(&b, "topic %s id=%d rf=%d internal=%v configs=%s\n", t.Name, t.ID[15], t.ReplicationFactor, t.Internal, formatMap(t.Configs))
		for i, p := range t.Assignments {
			fmt.Fprintf(&b, "  %d replicas=%v isr=%v leader=%d epoch=%d/%d\n", i, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
		}
	}
	for _, br := range img.Brokers() {
		fmt.Fprintf(&b, "broker %d rack=%q epoch=%d fenced=%v\n", br.ID, br.Rack, br.Epoch, br.Fenced)
	}
	for _, typ := range []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeGroupConfig} {
		for _, name := range []string{"", "1", "g"} {
			if cfg := img.Configs(meta.ConfigResource{Type: typ, Name: name}); cfg != nil {
				fmt.Fprintf(&b, "%v %q configs=%s\n", typ, name, formatMap(cfg))
			}
		}
	}
	for _, user := range img.ScramUsers() {
		fmt.Fprintf(&b, "user %q", user)
		for _, c := range img.ScramCredentials(user) {
			fmt.Fprintf(&b, " %v/%d", c.Mechanism, c.Iterations)
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

func formatMap(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func arg(td *datadriven.TestData, key, def string) string {
	for _, a := range td.CmdArgs {
		if a.Key == key {
			if len(a.Vals) == 0 {
				return ""
			}
			return a.Vals[0]
		}
	}
	return def
}

func intArg(td *datadriven.TestData, key string, def int) int {
	n, err := strconv.Atoi(arg(td, key, strconv.Itoa(def)))
	if err != nil {
		panic(fmt.Sprintf("%s: %v", key, err))
	}
	return n
}

// assignArg reads assign=(1-2-3,2-3-1): each partition's replicas.
func assignArg(td *datadriven.TestData) [][]int32 {
	var out [][]int32
	for _, a := range td.CmdArgs {
		if a.Key != "assign" {
			continue
		}
		for _, v := range a.Vals {
			var replicas []int32
			for _, r := range strings.Split(v, "-") {
				n, err := strconv.Atoi(r)
				if err != nil {
					panic(fmt.Sprintf("assign: %v", err))
				}
				replicas = append(replicas, int32(n))
			}
			out = append(out, replicas)
		}
	}
	return out
}

// int32sArg reads key=(1,2,3).
func int32sArg(td *datadriven.TestData, key string) []int32 {
	var out []int32
	for _, a := range td.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range a.Vals {
			n, err := strconv.Atoi(v)
			if err != nil {
				panic(fmt.Sprintf("%s: %v", key, err))
			}
			out = append(out, int32(n))
		}
	}
	return out
}

// configsArg reads configs=(k=v,k=v).
func configsArg(td *datadriven.TestData) map[string]string {
	out := map[string]string{}
	for _, a := range td.CmdArgs {
		if a.Key != "configs" {
			continue
		}
		for _, kv := range a.Vals {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	}
	return out
}

// TestStalePlan applies plans that went stale: the topic was created, or
// grew, between plan and apply. The apply fails and changes nothing.
func TestStalePlan(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	first, err := h.c.PlanTopic(NewTopic{Name: "t", Partitions: 1, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.c.PlanTopic(NewTopic{Name: "t", Partitions: 2, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.CreateTopic(first); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.CreateTopic(second); !errors.Is(err, meta.ErrTopicExists) {
		t.Errorf("stale creation: %v, want ErrTopicExists", err)
	}
	_, grow1, err := h.c.PlanPartitions("t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, grow2, _ := h.c.PlanPartitions("t", 3, nil)
	if err := h.c.AddPartitions(grow1); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions(grow2); !errors.Is(err, meta.ErrInvalidPartitions) {
		t.Errorf("stale growth: %v, want ErrInvalidPartitions", err)
	}
	if tp, _ := h.store.Topic("t"); tp.Partitions != 2 || tp.ID != first.ID {
		t.Errorf("topic after stale plans: %+v", tp)
	}
}

// On a cluster each new partition goes to one registered broker, leaders
// round-robin from a per-topic start, and growth continues the rotation.
func TestPlaceSpreadsOverBrokers(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	for id := int32(1); id <= 3; id++ {
		if _, err := h.store.Apply(meta.BrokerRecord{Broker: meta.Broker{ID: id, Host: "h", Port: 9092, Epoch: 1}},
			meta.BrokerFenceRecord{ID: id, Epoch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := h.c.PlanTopic(NewTopic{Name: "spread", Partitions: 4, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.CreateTopic(rec); err != nil {
		t.Fatal(err)
	}
	_, records, err := h.c.PlanPartitions("spread", 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions(records); err != nil {
		t.Fatal(err)
	}
	tp, _ := h.store.Topic("spread")
	var leaders []int32
	for _, p := range tp.Assignments {
		if len(p.Replicas) != 1 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %+v: want one replica, leading", p)
		}
		leaders = append(leaders, p.Leader)
	}
	for i := 1; i < len(leaders); i++ {
		if want := leaders[i-1]%3 + 1; leaders[i] != want {
			t.Errorf("leaders %v do not rotate over brokers 1..3", leaders)
			break
		}
	}
}

// metrics prints the election counters, "name value" a line.
func (h *harness) metrics() string {
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		lines = append(lines, fmt.Sprintf("%s %v", mf.GetName(), mf.GetMetric()[0].GetCounter().GetValue()))
	}
	return strings.Join(lines, "\n")
}
