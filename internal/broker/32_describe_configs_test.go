package broker

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// newConfigBroker returns a broker over a fresh store and log manager,
// node 1, with settings as its static broker configs and topic "t"
// created with overrides.
func newConfigBroker(t testing.TB, settings map[string]string, overrides map[string]string) *Broker {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	store, err := meta.Open(t.TempDir(), 1, log)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := config.ParseBrokerConfig(settings)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	ctrl, err := controller.New(controller.Config{Store: store, Node: 1, Settings: bc})
	if err != nil {
		t.Fatal(err)
	}
	replicas := replica.NewManager(replica.Config{NodeID: 1, Logs: logs})
	b := &Broker{cfg: Config{NodeID: 1, Logger: log, Settings: bc}, log: log, logs: logs, replicas: replicas, meta: store, ctrl: ctrl}
	b.loadSettings()
	rec, err := ctrl.PlanTopic(controller.NewTopic{Name: "t", Partitions: 2, ReplicationFactor: 1, Configs: overrides})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ctrl.CreateTopic(rec)
	if err != nil {
		t.Fatal(err)
	}
	for p := range tp.Partitions {
		if _, err := logs.CreateLog("t", p, config.ResolveLogConfig(tp.Configs, bc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.leadAll(); err != nil {
		t.Fatal(err)
	}
	return b
}

func describe(t *testing.T, b *Broker, version int16, synonyms bool, rs ...kmsg.DescribeConfigsRequestResource) []kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation, req.Resources = version, synonyms, version >= 3, rs
	resp, err := handleDescribeConfigs(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	out := resp.Msg.(*kmsg.DescribeConfigsResponse)
	if out.Version != version || len(out.Resources) != len(rs) {
		t.Fatalf("version %d, %d resources; want %d, %d", out.Version, len(out.Resources), version, len(rs))
	}
	return out.Resources
}

func resource(typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsRequestResource {
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, keys
	return r
}

func configByName(cs []kmsg.DescribeConfigsResponseResourceConfig, name string) (kmsg.DescribeConfigsResponseResourceConfig, bool) {
	i := slices.IndexFunc(cs, func(c kmsg.DescribeConfigsResponseResourceConfig) bool { return c.Name == name })
	if i < 0 {
		return kmsg.DescribeConfigsResponseResourceConfig{}, false
	}
	return cs[i], true
}

type synonymWant struct {
	name, value string
	source      kmsg.ConfigSource
}

func TestDescribeTopicConfigs(t *testing.T) {
	b := newConfigBroker(t, map[string]string{"log.roll.hours": "1"}, map[string]string{"retention.ms": "1000"})
	res := describe(t, b, 4, true, resource(kmsg.ConfigResourceTypeTopic, "t"))[0]
	if res.ErrorCode != 0 || len(res.Configs) != len(config.TopicConfigDefs()) {
		t.Fatalf("error %d, %d configs; want all %d", res.ErrorCode, len(res.Configs), len(config.TopicConfigDefs()))
	}
	for _, tc := range []struct {
		name, value string
		source      kmsg.ConfigSource
		synonyms    []synonymWant
	}{
		{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig, []synonymWant{
			{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig},
			{"log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig}}},
		{"segment.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig, []synonymWant{
			{"log.roll.hours", "1", kmsg.ConfigSourceStaticBrokerConfig},
			{"log.roll.hours", "168", kmsg.ConfigSourceDefaultConfig}}},
		{"cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig, []synonymWant{
			{"log.cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig}}},
		{"remote.storage.enable", "false", kmsg.ConfigSourceDefaultConfig, nil},
	} {
		c, ok := configByName(res.Configs, tc.name)
		if !ok || c.Value == nil || *c.Value != tc.value || c.Source != tc.source || c.Documentation == nil {
			t.Errorf("%s: got %+v, want value %s source %v with docs", tc.name, c, tc.value, tc.source)
			continue
		}
		var got []synonymWant
		for _, s := range c.ConfigSynonyms {
			got = append(got, synonymWant{s.Name, *s.Value, s.Source})
		}
		if !slices.Equal(got, tc.synonyms) {
			t.Errorf("%s synonyms: got %v, want %v", tc.name, got, tc.synonyms)
		}
	}
}

func TestDescribeConfigsSubsetAndV0(t *testing.T) {
	b := newConfigBroker(t, nil, map[string]string{"retention.ms": "1000"})
	res := describe(t, b, 0, false, resource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "segment.bytes", "no.such.config"))[0]
	if len(res.Configs) != 2 {
		t.Fatalf("got %d configs, want 2: %+v", len(res.Configs), res.Configs)
	}
	for _, c := range res.Configs {
		if c.IsDefault != (c.Name == "segment.bytes") || c.ConfigSynonyms != nil || c.Documentation != nil {
			t.Errorf("%s: IsDefault %v, synonyms %v, docs %v", c.Name, c.IsDefault, c.ConfigSynonyms, c.Documentation)
		}
	}
}

func TestDescribeConfigsErrors(t *testing.T) {
	b := newConfigBroker(t, map[string]string{"num.partitions": "3"}, nil)
	for _, tc := range []struct {
		res  kmsg.DescribeConfigsRequestResource
		want *kerr.Error
	}{
		{resource(kmsg.ConfigResourceTypeTopic, "missing"), kerr.UnknownTopicOrPartition},
		{resource(kmsg.ConfigResourceTypeTopic, "bad/name"), kerr.InvalidTopicException},
		{resource(kmsg.ConfigResourceTypeBroker, "2"), kerr.InvalidRequest},
		{resource(kmsg.ConfigResourceTypeBroker, "x"), kerr.InvalidRequest},
		{resource(kmsg.ConfigResourceTypeBrokerLogger, "1"), kerr.InvalidRequest},
		{resource(kmsg.ConfigResourceType(99), "t"), kerr.InvalidRequest},
		{resource(kmsg.ConfigResourceTypeGroupConfig, ""), kerr.InvalidRequest},
		{resource(kmsg.ConfigResourceTypeBroker, ""), nil},
		{resource(kmsg.ConfigResourceTypeBroker, "1"), nil},
	} {
		res := describe(t, b, 4, true, tc.res)[0]
		if got := kerr.ErrorForCode(res.ErrorCode); got != error(tc.want) && !(tc.want == nil && got == nil) {
			t.Errorf("%v %q: got %v, want %v", tc.res.ResourceType, tc.res.ResourceName, got, tc.want)
		}
		if tc.want == nil && tc.res.ResourceName == "" && len(res.Configs) != 0 {
			t.Errorf("cluster-wide defaults with none set: %+v", res.Configs)
		}
		if tc.want == nil && tc.res.ResourceName == "1" {
			c, ok := configByName(res.Configs, "num.partitions")
			if !ok || *c.Value != "3" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || !c.ReadOnly {
				t.Errorf("broker %q num.partitions: %+v", tc.res.ResourceName, c)
			}
		}
	}
}
