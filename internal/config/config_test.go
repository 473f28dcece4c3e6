package config

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/storage"
)

func TestValidateTopicConfigs(t *testing.T) {
	for _, tc := range []struct {
		cfg     map[string]string
		wantKey string // "" means valid
	}{
		{nil, ""},
		{map[string]string{"cleanup.policy": "compact,delete"}, ""},
		{map[string]string{"cleanup.policy": " delete , compact "}, ""},
		{map[string]string{"cleanup.policy": "compact,nope"}, "cleanup.policy"},
		{map[string]string{"cleanup.policy": ""}, "cleanup.policy"},
		{map[string]string{"compression.type": "ZSTD"}, ""},
		{map[string]string{"compression.type": "brotli"}, "compression.type"},
		{map[string]string{"compression.gzip.level": "-1"}, ""},
		{map[string]string{"compression.gzip.level": "0"}, "compression.gzip.level"},
		{map[string]string{"compression.zstd.level": "-5"}, ""},
		{map[string]string{"retention.ms": "-1"}, ""},
		{map[string]string{"retention.ms": "-2"}, "retention.ms"},
		{map[string]string{"retention.ms": "9223372036854775807"}, ""},
		{map[string]string{"retention.ms": "9223372036854775808"}, "retention.ms"},
		{map[string]string{"retention.ms": "1h"}, "retention.ms"},
		{map[string]string{"retention.bytes": "-100"}, ""},
		{map[string]string{"segment.bytes": "14"}, ""},
		{map[string]string{"segment.bytes": "13"}, "segment.bytes"},
		{map[string]string{"segment.bytes": "2147483648"}, "segment.bytes"},
		{map[string]string{"segment.ms": "0"}, "segment.ms"},
		{map[string]string{"segment.index.bytes": "3"}, "segment.index.bytes"},
		{map[string]string{"flush.messages": "0"}, "flush.messages"},
		{map[string]string{"min.cleanable.dirty.ratio": "0.9"}, ""},
		{map[string]string{"min.cleanable.dirty.ratio": "1.1"}, "min.cleanable.dirty.ratio"},
		{map[string]string{"min.cleanable.dirty.ratio": "NaN"}, "min.cleanable.dirty.ratio"},
		{map[string]string{"message.timestamp.type": "LogAppendTime"}, ""},
		{map[string]string{"message.timestamp.type": "logappendtime"}, "message.timestamp.type"},
		{map[string]string{"preallocate": "TRUE"}, ""},
		{map[string]string{"preallocate": "yes"}, "preallocate"},
		{map[string]string{"min.insync.replicas": "0"}, "min.insync.replicas"},
		{map[string]string{"local.retention.ms": "-2"}, ""},
		{map[string]string{"remote.storage.enable": "false"}, ""},
		{map[string]string{"remote.storage.enable": "true"}, "remote.storage.enable"},
		{map[string]string{"log.retention.ms": "5"}, "log.retention.ms"},
		{map[string]string{"retention.ms": "5", "zzz": "1", "aaa": "1"}, "aaa"},
	} {
		err := ValidateTopicConfigs(tc.cfg)
		if tc.wantKey == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.cfg, err)
			}
			continue
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.wantKey || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: got %v, want a ConfigError for %s", tc.cfg, err, tc.wantKey)
		}
	}
}

// Every definition's default must pass its own validation, and broker
// synonyms must exist as broker configs.
func TestConfigDefsConsistent(t *testing.T) {
	for _, d := range append(TopicConfigDefs(), BrokerConfigDefs()...) {
		if d.HasDefault && d.Validate(d.Default) != nil && d.Type != kmsg.ConfigTypeList {
			t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, d.Validate(d.Default))
		}
		if d.Doc == "" || d.Type == kmsg.ConfigTypeUnknown {
			t.Errorf("%s: missing doc or type", d.Name)
		}
		if _, ok := lookupBrokerConfig(d.BrokerSynonym); d.BrokerSynonym != "" && !ok {
			t.Errorf("%s: broker synonym %s undefined", d.Name, d.BrokerSynonym)
		}
	}
}

func TestParseBrokerConfig(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]string
		wantKey  string
	}{
		{nil, ""},
		{map[string]string{"num.partitions": "3", "log.retention.hours": "1", "eddy.fsync.acks.all": "false"}, ""},
		{map[string]string{"log.dirs": "/a,/b", "log.dir": "/c", "broker.id": "7"}, ""},
		{map[string]string{"num.partitions": "0"}, "num.partitions"},
		{map[string]string{"num.partition": "3"}, "num.partition"},
		{map[string]string{"retention.ms": "3"}, "retention.ms"}, // a topic config, not a broker one
		{map[string]string{"auto.create.topics.enable": "maybe"}, "auto.create.topics.enable"},
		{map[string]string{"log.segment.bytes": "1"}, "log.segment.bytes"},
	} {
		_, err := ParseBrokerConfig(tc.settings)
		var ce *ConfigError
		switch {
		case tc.wantKey == "" && err != nil:
			t.Errorf("%v: %v", tc.settings, err)
		case tc.wantKey != "" && (!errors.As(err, &ce) || ce.Key != tc.wantKey):
			t.Errorf("%v: got %v, want error naming %s", tc.settings, err, tc.wantKey)
		}
	}
}

func TestBrokerConfigAccessors(t *testing.T) {
	var zero BrokerConfig
	for _, tc := range []struct {
		name string
		want int64
	}{
		{"num.partitions", 1}, {"default.replication.factor", 1}, {"log.retention.check.interval.ms", 300000},
		{"socket.request.max.bytes", 104857600}, {"offsets.topic.num.partitions", 50},
		{"offsets.retention.minutes", 10080}, {"group.initial.rebalance.delay.ms", 3000},
		{"min.insync.replicas", 1}, {"broker.id", -1}, {"log.retention.ms", 0},
	} {
		if got := zero.Int(tc.name); got != tc.want {
			t.Errorf("Int(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
	if !zero.Bool("auto.create.topics.enable") || !zero.Bool("delete.topic.enable") || !zero.Bool("eddy.fsync.acks.all") {
		t.Error("boolean defaults wrong")
	}
	bc, err := ParseBrokerConfig(map[string]string{"num.partitions": " 6 ", "eddy.fsync.acks.all": "False"})
	if err != nil {
		t.Fatal(err)
	}
	if bc.Int("num.partitions") != 6 || bc.Bool("eddy.fsync.acks.all") {
		t.Errorf("explicit settings not read: %v", bc.Settings())
	}
	if v, isDefault := bc.Value("num.partitions"); v != " 6 " || isDefault {
		t.Errorf("Value = %q, %v", v, isDefault)
	}
	if v, isDefault := bc.Value("log.retention.ms"); v != "" || !isDefault {
		t.Errorf("null default Value = %q, %v", v, isDefault)
	}
	defer func() {
		if recover() == nil {
			t.Error("Int of an undefined name did not panic")
		}
	}()
	bc.Int("no.such.config")
}

func TestResolveLogConfig(t *testing.T) {
	def := storage.DefaultLogConfig()
	with := func(f func(*storage.LogConfig)) storage.LogConfig { c := def; f(&c); return c }
	for _, tc := range []struct {
		name      string
		overrides map[string]string
		broker    map[string]string
		want      storage.LogConfig
	}{
		{"kafka defaults", nil, nil, def},
		{"broker hours", nil, map[string]string{"log.retention.hours": "1"},
			with(func(c *storage.LogConfig) { c.RetentionMs = 3600000 })},
		{"broker minutes beat hours", nil, map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2"},
			with(func(c *storage.LogConfig) { c.RetentionMs = 120000 })},
		{"broker ms beats minutes", nil, map[string]string{"log.retention.ms": "5", "log.retention.minutes": "2"},
			with(func(c *storage.LogConfig) { c.RetentionMs = 5 })},
		{"negative hours mean forever", nil, map[string]string{"log.retention.hours": "-3"},
			with(func(c *storage.LogConfig) { c.RetentionMs = -1 })},
		{"topic beats broker", map[string]string{"retention.ms": "7"}, map[string]string{"log.retention.ms": "5"},
			with(func(c *storage.LogConfig) { c.RetentionMs = 7 })},
		{"invalid override falls through", map[string]string{"retention.ms": "x"}, map[string]string{"log.retention.ms": "5"},
			with(func(c *storage.LogConfig) { c.RetentionMs = 5 })},
		{"roll hours", nil, map[string]string{"log.roll.hours": "2"},
			with(func(c *storage.LogConfig) { c.SegmentMs = 7200000 })},
		{"flush scheduler fallback", nil, map[string]string{"log.flush.scheduler.interval.ms": "1000"},
			with(func(c *storage.LogConfig) { c.FlushMs = 1000 })},
		{"flush interval beats scheduler", nil, map[string]string{"log.flush.scheduler.interval.ms": "1000", "log.flush.interval.ms": "10"},
			with(func(c *storage.LogConfig) { c.FlushMs = 10 })},
		{"everything by topic", map[string]string{
			"segment.bytes": "1000", "segment.ms": "2", "segment.index.bytes": "4096", "index.interval.bytes": "1",
			"retention.bytes": "-9", "flush.messages": "1", "flush.ms": "3", "max.message.bytes": "77",
			"message.timestamp.type": "LogAppendTime", "cleanup.policy": "compact", "file.delete.delay.ms": "0",
			"min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "5", "max.compaction.lag.ms": "6",
			"delete.retention.ms": "7",
		}, map[string]string{"log.segment.bytes": "99999", "message.max.bytes": "5"}, storage.LogConfig{
			SegmentBytes: 1000, SegmentMs: 2, SegmentIndexBytes: 4096, IndexIntervalBytes: 1, RetentionMs: def.RetentionMs,
			RetentionBytes: -1, FlushMessages: 1, FlushMs: 3, MaxMessageBytes: 77, TimestampType: storage.LogAppendTime,
			Compact: true, FileDeleteDelayMs: 0,
			MinCleanableDirtyRatio: 0.01, MinCompactionLagMs: 5, MaxCompactionLagMs: 6, DeleteRetentionMs: 7,
			MinInsyncReplicas: 1,
		}},
		{"everything by broker", nil, map[string]string{
			"log.segment.bytes": "1000", "log.index.size.max.bytes": "4096", "log.index.interval.bytes": "1",
			"log.retention.bytes": "10", "log.flush.interval.messages": "1", "message.max.bytes": "77",
			"log.message.timestamp.type": "LogAppendTime", "log.cleanup.policy": "compact,delete",
			"log.segment.delete.delay.ms": "0", "log.cleaner.min.cleanable.ratio": "0.25",
			"log.cleaner.min.compaction.lag.ms": "8", "log.cleaner.max.compaction.lag.ms": "9",
			"log.cleaner.delete.retention.ms": "10", "min.insync.replicas": "2",
		}, storage.LogConfig{
			SegmentBytes: 1000, SegmentMs: def.SegmentMs, SegmentIndexBytes: 4096, IndexIntervalBytes: 1,
			RetentionMs: def.RetentionMs, RetentionBytes: 10, FlushMessages: 1, FlushMs: math.MaxInt64,
			MaxMessageBytes: 77, TimestampType: storage.LogAppendTime, Compact: true, Delete: true,
			MinCleanableDirtyRatio: 0.25, MinCompactionLagMs: 8, MaxCompactionLagMs: 9, DeleteRetentionMs: 10,
			MinInsyncReplicas: 2,
		}},
	} {
		bc, err := ParseBrokerConfig(tc.broker)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ResolveLogConfig(tc.overrides, bc); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestDescribeConfigSynonyms(t *testing.T) {
	bc, err := ParseBrokerConfig(map[string]string{"log.retention.minutes": "2", "log.retention.hours": "3"})
	if err != nil {
		t.Fatal(err)
	}
	render := func(ss []ConfigSynonym) string {
		var parts []string
		for _, s := range ss {
			v := s.Value
			if s.Null {
				v = "null"
			}
			parts = append(parts, s.Name+"="+v+"/"+s.Source.String())
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		topic     bool
		name      string
		overrides map[string]string
		value     string
		source    kmsg.ConfigSource
		synonyms  string
	}{
		{true, "retention.ms", map[string]string{"retention.ms": "9"}, "9", kmsg.ConfigSourceDynamicTopicConfig,
			"retention.ms=9/DYNAMIC_TOPIC_CONFIG log.retention.minutes=2/STATIC_BROKER_CONFIG log.retention.hours=3/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"},
		{true, "retention.ms", nil, "120000", kmsg.ConfigSourceStaticBrokerConfig,
			"log.retention.minutes=2/STATIC_BROKER_CONFIG log.retention.hours=3/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"},
		{true, "segment.bytes", nil, "1073741824", kmsg.ConfigSourceDefaultConfig, "log.segment.bytes=1073741824/DEFAULT_CONFIG"},
		{false, "log.retention.ms", nil, "null", kmsg.ConfigSourceDefaultConfig,
			"log.retention.minutes=2/STATIC_BROKER_CONFIG log.retention.hours=3/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"},
		{false, "log.retention.hours", nil, "3", kmsg.ConfigSourceStaticBrokerConfig,
			"log.retention.hours=3/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"},
		{false, "num.partitions", nil, "1", kmsg.ConfigSourceDefaultConfig, "num.partitions=1/DEFAULT_CONFIG"},
	} {
		var cv ConfigValue
		var ok bool
		if tc.topic {
			cv, ok = DescribeTopicConfig(tc.name, tc.overrides, bc)
		} else {
			cv, ok = DescribeBrokerConfig(tc.name, bc, true)
		}
		value := cv.Value
		if cv.Null {
			value = "null"
		}
		if !ok || value != tc.value || cv.Source != tc.source || render(cv.Synonyms) != tc.synonyms {
			t.Errorf("%s: got %s/%v [%s]\nwant %s/%v [%s]", tc.name, value, cv.Source, render(cv.Synonyms), tc.value, tc.source, tc.synonyms)
		}
	}
	if _, ok := DescribeTopicConfig("nope", nil, bc); ok {
		t.Error("unknown topic config described")
	}
}
