package broker

import (
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// TestAlterBrokerConfigs alters BROKER resources through both APIs and
// checks what is stored at each level, the effective settings, and the
// partition logs of topic "t", which has no overrides.
func TestAlterBrokerConfigs(t *testing.T) {
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	type ops = []kmsg.IncrementalAlterConfigsRequestResourceConfig
	start := map[string]string{"log.retention.ms": "5000"} // cluster default before each case
	for _, tc := range []struct {
		name      string
		resource  string
		replace   []string // AlterConfigs key/value pairs; nil uses ops
		ops       ops
		validate  bool
		want      *kerr.Error
		wantMsg   string
		cluster   map[string]string // stored cluster-wide defaults afterwards
		perBroker map[string]string // stored configs of broker 1 afterwards
		retention int64             // retention.ms of t's logs afterwards
	}{
		{name: "set default", resource: "", ops: ops{op(set, "log.retention.ms", "60000"), op(set, "message.max.bytes", "2000")},
			cluster: map[string]string{"log.retention.ms": "60000", "message.max.bytes": "2000"}, retention: 60000},
		{name: "per broker wins", resource: "1", ops: ops{op(set, "log.retention.ms", "70000")},
			cluster: start, perBroker: map[string]string{"log.retention.ms": "70000"}, retention: 70000},
		{name: "delete falls back to static", resource: "", ops: ops{op(del, "log.retention.ms")},
			retention: 1000},
		{name: "replace set", resource: "", replace: []string{"log.segment.bytes", "4096"},
			cluster: map[string]string{"log.segment.bytes": "4096"}, retention: 1000},
		{name: "append to default", resource: "", ops: ops{op(appendOp, "log.cleanup.policy", "compact")},
			cluster: map[string]string{"log.retention.ms": "5000", "log.cleanup.policy": "delete,compact"}, retention: 5000},
		{name: "subtract to nothing", resource: "", ops: ops{op(subtract, "log.cleanup.policy", "delete")},
			want: kerr.InvalidRequest, wantMsg: "log.cleanup.policy", cluster: start, retention: 5000},
		{name: "custom property kept", resource: "1", ops: ops{op(set, "background.threads", "9")},
			cluster: start, perBroker: map[string]string{"background.threads": "9"}, retention: 5000},
		{name: "validate only", resource: "", validate: true, ops: ops{op(set, "log.retention.ms", "1")},
			cluster: start, retention: 5000},
		{name: "read-only", resource: "", ops: ops{op(set, "num.partitions", "3")},
			want: kerr.InvalidRequest, wantMsg: "num.partitions", cluster: start, retention: 5000},
		{name: "hours synonym is read-only", resource: "1", replace: []string{"log.retention.hours", "1"},
			want: kerr.InvalidRequest, wantMsg: "log.retention.hours", cluster: start, retention: 5000},
		{name: "bad value", resource: "", ops: ops{op(set, "log.retention.ms", "-5")},
			want: kerr.InvalidRequest, wantMsg: "log.retention.ms", cluster: start, retention: 5000},
		{name: "append to non-list", resource: "", ops: ops{op(appendOp, "log.retention.ms", "5")},
			want: kerr.InvalidConfig, wantMsg: "log.retention.ms", cluster: start, retention: 5000},
		{name: "other broker", resource: "2", ops: ops{op(set, "log.retention.ms", "5")},
			want: kerr.InvalidRequest, wantMsg: "2", cluster: start, retention: 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newConfigBroker(t, map[string]string{"log.retention.ms": "1000"}, nil)
			if err := b.alterBrokerConfigs("", false, func(bool, map[string]string) (map[string]string, error) { return start, nil }); err != nil {
				t.Fatal(err)
			}
			var code int16
			var msg *string
			if tc.replace != nil {
				res := alter(t, b, tc.validate, alterResource(kmsg.ConfigResourceTypeBroker, tc.resource, tc.replace...))[0]
				code, msg = res.ErrorCode, res.ErrorMessage
			} else {
				res := incrementalAlter(t, b, tc.validate, kmsg.ConfigResourceTypeBroker, tc.resource, tc.ops...)
				code, msg = res.ErrorCode, res.ErrorMessage
			}
			checkAlterResult(t, code, msg, tc.want, tc.wantMsg)
			if got := b.meta.Configs(meta.BrokerResource(1, false)); !maps.Equal(got, tc.cluster) {
				t.Errorf("cluster defaults %v, want %v", got, tc.cluster)
			}
			if got := b.meta.Configs(meta.BrokerResource(1, true)); !maps.Equal(got, tc.perBroker) {
				t.Errorf("broker 1 configs %v, want %v", got, tc.perBroker)
			}
			if got := b.logs.Log("t", 0).Config().RetentionMs; got != tc.retention {
				t.Errorf("log retention.ms %d, want %d", got, tc.retention)
			}
			checkLogConfigs(t, b, nil)
		})
	}
}

// TestDescribeDynamicBrokerConfigs checks sources, synonyms and read-only
// flags once dynamic configs are set at both levels.
func TestDescribeDynamicBrokerConfigs(t *testing.T) {
	b := newConfigBroker(t, map[string]string{"log.retention.ms": "1000", "num.partitions": "3"}, nil)
	incrementalAlter(t, b, false, kmsg.ConfigResourceTypeBroker, "", op(kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", "2000"))
	incrementalAlter(t, b, false, kmsg.ConfigResourceTypeBroker, "1", op(kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", "3000"))
	res := describe(t, b, 4, true,
		resource(kmsg.ConfigResourceTypeBroker, "1", "log.retention.ms", "num.partitions", "log.segment.bytes"),
		resource(kmsg.ConfigResourceTypeBroker, ""),
		resource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms"))
	for _, tc := range []struct {
		res         int
		name, value string
		source      kmsg.ConfigSource
		readOnly    bool
		synonyms    []synonymWant
	}{
		{0, "log.retention.ms", "3000", kmsg.ConfigSourceDynamicBrokerConfig, false, []synonymWant{
			{"log.retention.ms", "3000", kmsg.ConfigSourceDynamicBrokerConfig},
			{"log.retention.ms", "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
			{"log.retention.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig},
			{"log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig}}},
		{0, "num.partitions", "3", kmsg.ConfigSourceStaticBrokerConfig, true, []synonymWant{
			{"num.partitions", "3", kmsg.ConfigSourceStaticBrokerConfig},
			{"num.partitions", "1", kmsg.ConfigSourceDefaultConfig}}},
		{0, "log.segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig, false, []synonymWant{
			{"log.segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig}}},
		{1, "log.retention.ms", "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, false, []synonymWant{
			{"log.retention.ms", "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
			{"log.retention.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig},
			{"log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig}}},
		{2, "retention.ms", "3000", kmsg.ConfigSourceDynamicBrokerConfig, false, []synonymWant{
			{"log.retention.ms", "3000", kmsg.ConfigSourceDynamicBrokerConfig},
			{"log.retention.ms", "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
			{"log.retention.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig},
			{"log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig}}},
	} {
		c, ok := configByName(res[tc.res].Configs, tc.name)
		if !ok || c.Value == nil || *c.Value != tc.value || c.Source != tc.source || c.ReadOnly != tc.readOnly {
			t.Errorf("resource %d %s: got %+v, want %s from %v read-only %v", tc.res, tc.name, c, tc.value, tc.source, tc.readOnly)
			continue
		}
		var got []synonymWant
		for _, s := range c.ConfigSynonyms {
			got = append(got, synonymWant{s.Name, *s.Value, s.Source})
		}
		if !slices.Equal(got, tc.synonyms) {
			t.Errorf("resource %d %s synonyms: got %v, want %v", tc.res, tc.name, got, tc.synonyms)
		}
	}
	if n := len(res[1].Configs); n != 1 {
		t.Errorf("cluster-wide defaults list %d configs, want the 1 set", n)
	}
}

// TestGroupConfigs sets, describes, validates and deletes the configs of a
// GROUP resource.
func TestGroupConfigs(t *testing.T) {
	b := newConfigBroker(t, map[string]string{"group.consumer.min.session.timeout.ms": "1000"}, nil)
	group := func() map[string]string {
		return b.meta.Configs(meta.ConfigResource{Type: kmsg.ConfigResourceTypeGroupConfig, Name: "g"})
	}
	type ops = []kmsg.IncrementalAlterConfigsRequestResourceConfig
	set, del := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete
	for _, step := range []struct {
		ops     ops
		want    *kerr.Error
		wantMsg string
		after   map[string]string
	}{
		{ops{op(set, "consumer.session.timeout.ms", "50000")}, nil, "", map[string]string{"consumer.session.timeout.ms": "50000"}},
		{ops{op(set, "consumer.session.timeout.ms", "70000")}, kerr.InvalidConfig, "group.consumer.max.session.timeout.ms",
			map[string]string{"consumer.session.timeout.ms": "50000"}},
		{ops{op(set, "consumer.session.timeout.ms", "2000")}, kerr.InvalidConfig, "consumer.heartbeat.interval.ms",
			map[string]string{"consumer.session.timeout.ms": "50000"}},
		{ops{op(set, "consumer.heartbeat.interval.ms", "6000")}, nil, "",
			map[string]string{"consumer.session.timeout.ms": "50000", "consumer.heartbeat.interval.ms": "6000"}},
		{ops{op(kmsg.IncrementalAlterConfigOpAppend, "consumer.heartbeat.interval.ms", "1")}, kerr.InvalidConfig, "list",
			map[string]string{"consumer.session.timeout.ms": "50000", "consumer.heartbeat.interval.ms": "6000"}},
		{ops{op(del, "consumer.session.timeout.ms")}, nil, "", map[string]string{"consumer.heartbeat.interval.ms": "6000"}},
	} {
		res := incrementalAlter(t, b, false, kmsg.ConfigResourceTypeGroupConfig, "g", step.ops...)
		checkAlterResult(t, res.ErrorCode, res.ErrorMessage, step.want, step.wantMsg)
		if got := group(); !maps.Equal(got, step.after) {
			t.Fatalf("after %v: %v, want %v", step.ops, got, step.after)
		}
	}
	out := describe(t, b, 4, true, resource(kmsg.ConfigResourceTypeGroupConfig, "g"))[0]
	for name, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"consumer.heartbeat.interval.ms": {"6000", kmsg.ConfigSourceGroupConfig},
		"consumer.session.timeout.ms":    {"45000", kmsg.ConfigSourceDefaultConfig},
	} {
		c, ok := configByName(out.Configs, name)
		if !ok || *c.Value != want.value || c.Source != want.source || c.ReadOnly || c.ConfigType != kmsg.ConfigTypeInt {
			t.Errorf("%s: %+v, want %s from %v", name, c, want.value, want.source)
		}
	}
	res := alter(t, b, false, alterResource(kmsg.ConfigResourceTypeGroupConfig, "g"))[0]
	checkAlterResult(t, res.ErrorCode, res.ErrorMessage, nil, "")
	if got := group(); got != nil {
		t.Errorf("AlterConfigs with no configs left %v", got)
	}
}
