package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterOK fails the test unless every resource of an alter succeeded.
func alterOK(t *testing.T, what string, resps kadm.AlterConfigsResponses, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatalf("%s: resource %q: %v %s", what, r.Name, r.Err, r.ErrMessage)
		}
	}
}

// brokerConfig describes one config of broker 1 (or, with id < 0, of the
// cluster-wide default resource); ok is false if it is not listed.
func brokerConfig(t *testing.T, adm *kadm.Client, id int32, name string) (kadm.Config, bool) {
	t.Helper()
	var rcs kadm.ResourceConfigs
	var err error
	if id < 0 {
		rcs, err = adm.DescribeBrokerConfigs(testContext(t))
	} else {
		rcs, err = adm.DescribeBrokerConfigs(testContext(t), id)
	}
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker %d: %v %+v", id, err, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == name {
			return c, true
		}
	}
	return kadm.Config{}, false
}

func checkBrokerConfig(t *testing.T, adm *kadm.Client, id int32, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := brokerConfig(t, adm, id, name)
	if !ok || c.MaybeValue() != value || c.Source != source {
		t.Fatalf("broker %d %s: %q from %v (listed %v), want %q from %v", id, name, c.MaybeValue(), c.Source, ok, value, source)
	}
}

// produceErr produces one uncompressed record of size bytes to topic,
// without retries, and returns the produce error.
func produceErr(t *testing.T, addr, topic string, size int) error {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordRetries(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	return cl.ProduceSync(testContext(t), &kgo.Record{Topic: topic, Value: make([]byte, size)}).FirstErr()
}

// TestDynamicBrokerConfigs sets broker configs through kadm at the
// cluster-wide and per-broker levels, checks their sources, that they reach
// topics without overrides (message.max.bytes refuses a large record at
// once), that read-only ones are refused, that they survive a restart, and
// that deleting one falls back to the next source.
func TestDynamicBrokerConfigs(t *testing.T) {
	tn := startNode(t, "", map[string]string{"log.retention.ms": "86400000"})
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "dyn", 1, nil)
	if err := produceErr(t, tn.KafkaAddr(), "dyn", 5000); err != nil {
		t.Fatalf("5000-byte record before any dynamic config: %v", err)
	}

	ctx := testContext(t)
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: ptr("3600000")}})
	alterOK(t, "cluster default", resps, err)
	resps, err = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: ptr("2000")}}, 1)
	alterOK(t, "broker 1", resps, err)
	resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: ptr("3")}}, 1)
	if err != nil || len(resps) != 1 || !errors.Is(resps[0].Err, kerr.InvalidRequest) || !strings.Contains(resps[0].ErrMessage, "num.partitions") {
		t.Fatalf("read-only num.partitions: %v %+v", err, resps)
	}

	checks := func(t *testing.T, adm *kadm.Client) {
		t.Helper()
		checkBrokerConfig(t, adm, 1, "message.max.bytes", "2000", kmsg.ConfigSourceDynamicBrokerConfig)
		checkBrokerConfig(t, adm, 1, "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		checkBrokerConfig(t, adm, -1, "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		checkBrokerConfig(t, adm, 1, "num.partitions", "1", kmsg.ConfigSourceDefaultConfig)
		if _, listed := brokerConfig(t, adm, -1, "message.max.bytes"); listed {
			t.Fatal("the cluster-wide resource lists a per-broker config")
		}
		rcs, err := adm.DescribeTopicConfigs(testContext(t), "dyn")
		if err != nil {
			t.Fatal(err)
		}
		c, err := rcs.On("dyn", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, cfg := range c.Configs {
			if cfg.Key == "retention.ms" && (cfg.MaybeValue() != "3600000" || cfg.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
				t.Fatalf("topic retention.ms %q from %v", cfg.MaybeValue(), cfg.Source)
			}
		}
		if err := produceErr(t, tn.KafkaAddr(), "dyn", 5000); !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("5000-byte record with message.max.bytes=2000: %v, want MESSAGE_TOO_LARGE", err)
		}
	}
	checks(t, adm)

	tn.stop(t)
	tn = startNode(t, tn.dir, map[string]string{"log.retention.ms": "86400000"})
	adm = newAdmin(t, tn.KafkaAddr())
	checks(t, adm)

	resps, err = adm.AlterBrokerConfigs(testContext(t), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "message.max.bytes"}}, 1)
	alterOK(t, "delete message.max.bytes", resps, err)
	checkBrokerConfig(t, adm, 1, "message.max.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	if err := produceErr(t, tn.KafkaAddr(), "dyn", 5000); err != nil {
		t.Fatalf("5000-byte record once message.max.bytes is deleted: %v", err)
	}
	resps, err = adm.AlterBrokerConfigsState(testContext(t), nil)
	alterOK(t, "clear cluster defaults", resps, err)
	checkBrokerConfig(t, adm, 1, "log.retention.ms", "86400000", kmsg.ConfigSourceStaticBrokerConfig)
}

// TestDynamicRetentionReachesLogs sets log.retention.ms on the cluster and
// watches a topic without a retention override lose its old segments.
func TestDynamicRetentionReachesLogs(t *testing.T) {
	tn := startNode(t, "", map[string]string{"log.retention.check.interval.ms": "50"})
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, "ret", 1, map[string]*string{"segment.bytes": ptr("1024")})
	cl := newClient(t, tn.KafkaAddr())
	old := time.Now().Add(-time.Hour)
	for range 20 {
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "ret", Value: make([]byte, 200), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		offs, err := adm.ListStartOffsets(testContext(t), "ret")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("ret", 0)
		return o.Offset
	}
	if s := start(); s != 0 {
		t.Fatalf("log start %d before the change, want 0 (7 days of retention)", s)
	}
	resps, err := adm.AlterBrokerConfigs(testContext(t), []kadm.AlterConfig{{Name: "log.retention.ms", Value: ptr("60000")}})
	alterOK(t, "log.retention.ms", resps, err)
	waitFor(t, "retention to delete the hour-old segments", func() bool { return start() > 0 })
}

// incrementalAlterGroup sends IncrementalAlterConfigs SET/DELETE on a GROUP
// resource and returns its error.
func incrementalAlterGroup(t *testing.T, cl *kgo.Client, group string, op kmsg.IncrementalAlterConfigOp, name, value string) error {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name = op, name
	if op != kmsg.IncrementalAlterConfigOpDelete {
		c.Value = &value
	}
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
}

// TestGroupConfigResource sets consumer.* configs on a GROUP resource,
// describes them, and checks that a KIP-848 member of that group gets the
// heartbeat interval and is removed after the session timeout they set,
// far shorter than the broker's.
func TestGroupConfigResource(t *testing.T) {
	tn := startNode(t, "", map[string]string{
		"group.consumer.min.session.timeout.ms": "500", "group.consumer.min.heartbeat.interval.ms": "100"})
	cl := newClient(t, tn.KafkaAddr())
	createTopic(t, kadm.NewClient(cl), "gc", 1, nil)
	// The heartbeat interval first: the session must stay longer than it.
	if err := incrementalAlterGroup(t, cl, "tuned", kmsg.IncrementalAlterConfigOpSet, "consumer.heartbeat.interval.ms", "300"); err != nil {
		t.Fatal(err)
	}
	if err := incrementalAlterGroup(t, cl, "tuned", kmsg.IncrementalAlterConfigOpSet, "consumer.session.timeout.ms", "1500"); err != nil {
		t.Fatal(err)
	}
	if err := incrementalAlterGroup(t, cl, "tuned", kmsg.IncrementalAlterConfigOpSet, "consumer.session.timeout.ms", "100000"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("session timeout above group.consumer.max.session.timeout.ms: %v, want INVALID_CONFIG", err)
	}

	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "tuned"
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(testContext(t), cl)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe group configs: %v %+v", err, dresp)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		if c.Source == kmsg.ConfigSourceGroupConfig {
			got[c.Name] = *c.Value
		}
	}
	if got["consumer.session.timeout.ms"] != "1500" || got["consumer.heartbeat.interval.ms"] != "300" || len(got) != 2 {
		t.Fatalf("group configs described as %v", got)
	}

	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "tuned", "m1", 0, 30000
	hb.SubscribedTopicNames, hb.Topics = []string{"gc"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	waitFor(t, "the coordinator to answer the join", func() bool {
		resp, err = hb.RequestWith(context.Background(), cl)
		return err == nil && resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.CoordinatorNotAvailable.Code
	})
	if resp.ErrorCode != 0 || resp.HeartbeatIntervalMillis != 300 {
		t.Fatalf("join: error %d, heartbeat interval %d, want 300", resp.ErrorCode, resp.HeartbeatIntervalMillis)
	}
	// The member never heartbeats again: it must be gone well before the
	// broker's 45 s default session would end.
	joined := time.Now()
	waitFor(t, "the silent member's session to end", func() bool { return len(describeConsumerGroup(t, cl, "tuned").Members) == 0 })
	if waited := time.Since(joined); waited > 20*time.Second {
		t.Fatalf("member removed after %v, not by the group's 1.5 s session", waited)
	}
}
