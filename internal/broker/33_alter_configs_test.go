package broker

import (
	"context"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
)

func alterResource(typ kmsg.ConfigResourceType, name string, kv ...string) kmsg.AlterConfigsRequestResource {
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kv[i], &kv[i+1]
		r.Configs = append(r.Configs, c)
	}
	return r
}

func alter(t *testing.T, b *Broker, validateOnly bool, rs ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version, req.ValidateOnly, req.Resources = 2, validateOnly, rs
	resp, err := handleAlterConfigs(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.(*kmsg.AlterConfigsResponse).Resources
}

func TestAlterConfigs(t *testing.T) {
	topic := kmsg.ConfigResourceTypeTopic
	for _, tc := range []struct {
		name     string
		validate bool
		res      kmsg.AlterConfigsRequestResource
		want     *kerr.Error
		wantMsg  string
		after    map[string]string
	}{
		{name: "replace", res: alterResource(topic, "t", "segment.bytes", "4096"),
			after: map[string]string{"segment.bytes": "4096"}},
		{name: "clear", res: alterResource(topic, "t"), after: map[string]string{}},
		{name: "validate only", validate: true, res: alterResource(topic, "t", "segment.bytes", "4096"),
			after: map[string]string{"retention.ms": "1000"}},
		{name: "bad value", res: alterResource(topic, "t", "segment.bytes", "13"),
			want: kerr.InvalidConfig, wantMsg: "segment.bytes", after: map[string]string{"retention.ms": "1000"}},
		{name: "unknown key", res: alterResource(topic, "t", "segment.size", "13"),
			want: kerr.InvalidConfig, wantMsg: "segment.size", after: map[string]string{"retention.ms": "1000"}},
		{name: "duplicate key", res: alterResource(topic, "t", "retention.ms", "1", "retention.ms", "2"),
			want: kerr.InvalidRequest, wantMsg: "retention.ms", after: map[string]string{"retention.ms": "1000"}},
		{name: "unknown topic", res: alterResource(topic, "u", "retention.ms", "1"),
			want: kerr.UnknownTopicOrPartition, after: map[string]string{"retention.ms": "1000"}},
		{name: "broker", res: alterResource(kmsg.ConfigResourceTypeBroker, "1", "num.partitions", "3"),
			want: kerr.InvalidRequest, wantMsg: "--set", after: map[string]string{"retention.ms": "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newConfigBroker(t, nil, map[string]string{"retention.ms": "1000"})
			res := alter(t, b, tc.validate, tc.res)
			if len(res) != 1 || res[0].ResourceName != tc.res.ResourceName {
				t.Fatalf("resources %+v", res)
			}
			checkAlterResult(t, res[0].ErrorCode, res[0].ErrorMessage, tc.want, tc.wantMsg)
			if got, _ := b.meta.Topic("t"); !maps.Equal(got.Configs, tc.after) {
				t.Errorf("overrides %v, want %v", got.Configs, tc.after)
			}
			checkLogConfigs(t, b, tc.after)
		})
	}
}

func TestAlterConfigsDuplicateResource(t *testing.T) {
	b := newConfigBroker(t, nil, nil)
	r := alterResource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "1")
	res := alter(t, b, false, r, r)
	if len(res) != 1 || res[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("got %+v, want one INVALID_REQUEST", res)
	}
	if got, _ := b.meta.Topic("t"); len(got.Configs) != 0 {
		t.Errorf("overrides %v changed", got.Configs)
	}
}

// checkLogConfigs checks that every partition log of "t" runs with the
// config that overrides resolve to.
func checkLogConfigs(t *testing.T, b *Broker, overrides map[string]string) {
	t.Helper()
	want := config.ResolveLogConfig(overrides, b.settings())
	for p := range int32(2) {
		if got := b.logs.Log("t", p).Config(); got != want {
			t.Errorf("partition %d log config %+v, want %+v", p, got, want)
		}
	}
}
