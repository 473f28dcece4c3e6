package broker

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func incrementalAlter(t *testing.T, b *Broker, validateOnly bool, typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version, req.ValidateOnly = 1, validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	resp, err := handleIncrementalAlterConfigs(b, context.Background(), &Request{Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
}

func op(o kmsg.IncrementalAlterConfigOp, name string, value ...string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name = o, name
	if len(value) > 0 {
		c.Value = &value[0]
	}
	return c
}

func TestIncrementalAlterConfigs(t *testing.T) {
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	for _, tc := range []struct {
		name     string
		validate bool
		ops      []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want     *kerr.Error
		wantMsg  string            // substring of the error message
		after    map[string]string // the topic's overrides afterwards
	}{
		{name: "set", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", "5"), op(set, "segment.bytes", "1024")},
			after: map[string]string{"retention.ms": "5", "segment.bytes": "1024", "max.message.bytes": "2000"}},
		{name: "validate only", validate: true, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", "5")},
			after: map[string]string{"max.message.bytes": "2000"}},
		{name: "delete", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(del, "max.message.bytes"), op(del, "retention.ms")},
			after: map[string]string{}},
		{name: "append to default", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "cleanup.policy", "compact")},
			after: map[string]string{"max.message.bytes": "2000", "cleanup.policy": "delete,compact"}},
		{name: "subtract from default", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(subtract, "cleanup.policy", "delete")},
			want: kerr.InvalidConfig, wantMsg: "cleanup.policy", after: map[string]string{"max.message.bytes": "2000"}},
		{name: "append to non-list", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "retention.ms", "5")},
			want: kerr.InvalidConfig, wantMsg: "retention.ms", after: map[string]string{"max.message.bytes": "2000"}},
		{name: "bad value", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", "-7")},
			want: kerr.InvalidConfig, wantMsg: "retention.ms", after: map[string]string{"max.message.bytes": "2000"}},
		{name: "unknown key", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.days", "1")},
			want: kerr.InvalidConfig, wantMsg: "retention.days", after: map[string]string{"max.message.bytes": "2000"}},
		{name: "duplicate key", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", "1"), op(del, "retention.ms")},
			want: kerr.InvalidRequest, after: map[string]string{"max.message.bytes": "2000"}},
		{name: "null set", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms")},
			want: kerr.InvalidRequest, after: map[string]string{"max.message.bytes": "2000"}},
		{name: "unknown op", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(9, "retention.ms", "1")},
			want: kerr.InvalidRequest, after: map[string]string{"max.message.bytes": "2000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newConfigBroker(t, nil, map[string]string{"max.message.bytes": "2000"})
			res := incrementalAlter(t, b, tc.validate, kmsg.ConfigResourceTypeTopic, "t", tc.ops...)
			checkAlterResult(t, res.ErrorCode, res.ErrorMessage, tc.want, tc.wantMsg)
			if got, _ := b.meta.Topic("t"); !maps.Equal(got.Configs, tc.after) {
				t.Errorf("overrides %v, want %v", got.Configs, tc.after)
			}
			checkLogConfigs(t, b, tc.after)
		})
	}
}

func TestIncrementalAlterConfigsResources(t *testing.T) {
	b := newConfigBroker(t, nil, nil)
	set := op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "5")
	for _, tc := range []struct {
		typ  kmsg.ConfigResourceType
		name string
		want *kerr.Error
	}{
		{kmsg.ConfigResourceTypeTopic, "missing", kerr.UnknownTopicOrPartition},
		{kmsg.ConfigResourceTypeBroker, "2", kerr.InvalidRequest},
		{kmsg.ConfigResourceTypeBroker, "one", kerr.InvalidRequest},
		{kmsg.ConfigResourceTypeBrokerLogger, "1", kerr.InvalidRequest},
		{kmsg.ConfigResourceTypeGroupConfig, "", kerr.InvalidRequest},
		{kmsg.ConfigResourceTypeGroupConfig, "g", kerr.InvalidConfig}, // retention.ms is no group config
		{kmsg.ConfigResourceTypeBroker, "1", nil},                     // kept as a custom property, as Kafka does
		{kmsg.ConfigResourceTypeBroker, "", nil},
	} {
		res := incrementalAlter(t, b, false, tc.typ, tc.name, set)
		checkAlterResult(t, res.ErrorCode, res.ErrorMessage, tc.want, "")
	}
}

func checkAlterResult(t *testing.T, code int16, msg *string, want *kerr.Error, wantMsg string) {
	t.Helper()
	if want == nil {
		if code != 0 {
			t.Fatalf("error %v: %v", kerr.ErrorForCode(code), *msg)
		}
		return
	}
	if code != want.Code {
		t.Fatalf("error %v, want %v", kerr.ErrorForCode(code), want)
	}
	if msg == nil || !strings.Contains(*msg, wantMsg) {
		t.Fatalf("message %v does not mention %q", msg, wantMsg)
	}
}
