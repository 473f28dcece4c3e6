package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateDynamicBrokerConfigs(t *testing.T) {
	for _, tc := range []struct {
		cfg     map[string]string
		wantErr string // substring; "" for success
	}{
		{map[string]string{"log.retention.ms": "60000", "message.max.bytes": "2000", "log.cleanup.policy": "compact"}, ""},
		{map[string]string{"log.cleaner.threads": "2", "log.cleaner.backoff.ms": "10"}, ""},
		{map[string]string{"background.threads": "9"}, ""}, // unknown to Eddy: kept, as Kafka keeps custom properties
		{map[string]string{"num.partitions": "3"}, "num.partitions"},
		{map[string]string{"log.retention.hours": "1"}, "log.retention.hours"}, // only the first synonym is dynamic
		{map[string]string{"log.cleaner.enable": "false"}, "log.cleaner.enable"},
		{map[string]string{"log.retention.ms": "-7"}, "log.retention.ms"},
		{map[string]string{"log.cleanup.policy": "shred"}, "log.cleanup.policy"},
		{map[string]string{"log.cleaner.threads": "0"}, "log.cleaner.threads"},
	} {
		err := ValidateDynamicBrokerConfigs(tc.cfg)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one naming %s", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestDynamicBrokerConfigPrecedence(t *testing.T) {
	static, err := ParseBrokerConfig(map[string]string{"log.retention.ms": "1000", "log.segment.bytes": "5000", "num.partitions": "2"})
	if err != nil {
		t.Fatal(err)
	}
	bc := static.WithDynamic(
		map[string]string{"log.retention.ms": "2000", "log.segment.bytes": "6000", "custom.plugin.key": "x"},
		map[string]string{"log.retention.ms": "3000"})
	for _, tc := range []struct {
		name, value string
		source      kmsg.ConfigSource
		perBroker   bool
	}{
		{"log.retention.ms", "3000", kmsg.ConfigSourceDynamicBrokerConfig, true},
		{"log.retention.ms", "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, false},
		{"log.segment.bytes", "6000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, true},
		{"num.partitions", "2", kmsg.ConfigSourceStaticBrokerConfig, true},
		{"log.roll.ms", "", kmsg.ConfigSourceDefaultConfig, true},
	} {
		def, _ := lookupBrokerConfig(tc.name)
		cv := bc.describe(def, tc.perBroker)
		if cv.Value != tc.value || cv.Source != tc.source || cv.Def.ReadOnly != !brokerDynamic[tc.name] {
			t.Errorf("%s (per broker %v): %q from %v read-only %v; want %q from %v", tc.name, tc.perBroker, cv.Value, cv.Source, cv.Def.ReadOnly, tc.value, tc.source)
		}
	}
	if v, _ := bc.Value("log.retention.ms"); v != "3000" {
		t.Errorf("Value = %s, want the per-broker 3000", v)
	}
	if lc := ResolveLogConfig(nil, bc); lc.RetentionMs != 3000 || lc.SegmentBytes != 6000 {
		t.Errorf("log config retention %d segment %d, want 3000 and 6000", lc.RetentionMs, lc.SegmentBytes)
	}
	if lc := ResolveLogConfig(map[string]string{"retention.ms": "9"}, bc); lc.RetentionMs != 9 {
		t.Errorf("topic override lost to the broker: %d", lc.RetentionMs)
	}
	cv, _ := DescribeTopicConfig("retention.ms", nil, bc)
	var chain []string
	for _, s := range cv.Synonyms {
		chain = append(chain, s.Name+"="+s.Value+"/"+s.Source.String())
	}
	want := "log.retention.ms=3000/DYNAMIC_BROKER_CONFIG log.retention.ms=2000/DYNAMIC_DEFAULT_BROKER_CONFIG " +
		"log.retention.ms=1000/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"
	if got := strings.Join(chain, " "); cv.Value != "3000" || got != want {
		t.Errorf("retention.ms %s synonyms\n got %s\nwant %s", cv.Value, got, want)
	}

	names := func(cvs []ConfigValue) []string {
		var out []string
		for _, cv := range cvs {
			out = append(out, cv.Def.Name)
		}
		return out
	}
	if got := strings.Join(names(DescribeBrokerConfigs(bc, false)), ","); got != "custom.plugin.key,log.retention.ms,log.segment.bytes" {
		t.Errorf("cluster default resource lists %s", got)
	}
	all := DescribeBrokerConfigs(bc, true)
	i := slices.IndexFunc(all, func(cv ConfigValue) bool { return cv.Def.Name == "custom.plugin.key" })
	if len(all) != len(brokerDefs)+1 || i < 0 || !all[i].Def.Sensitive || all[i].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("per-broker resource: %d configs, custom one at %d", len(all), i)
	}
}

// TestDescribeOnlyPerBrokerConfigs describes a broker with dynamic configs
// of its own and no cluster-wide ones (this panicked once).
func TestDescribeOnlyPerBrokerConfigs(t *testing.T) {
	bc := BrokerConfig{}.WithDynamic(nil, map[string]string{"log.retention.ms": "5", "custom.key": "x"})
	all := DescribeBrokerConfigs(bc, true)
	if len(all) != len(brokerDefs)+1 {
		t.Fatalf("%d configs, want %d", len(all), len(brokerDefs)+1)
	}
	if got := DescribeBrokerConfigs(bc, false); len(got) != 0 {
		t.Errorf("cluster-wide resource lists %d configs, want none", len(got))
	}
}

func TestValidateGroupConfigs(t *testing.T) {
	bc, err := ParseBrokerConfig(map[string]string{"group.consumer.min.session.timeout.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg     map[string]string
		wantErr string
	}{
		{map[string]string{"consumer.session.timeout.ms": "50000"}, ""},
		{map[string]string{"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "5000"}, ""},
		{map[string]string{"consumer.session.timeout.ms": "5000"}, "greater than consumer.heartbeat.interval.ms"},
		{map[string]string{"consumer.session.timeout.ms": "999"}, "group.consumer.min.session.timeout.ms"},
		{map[string]string{"consumer.session.timeout.ms": "60001"}, "group.consumer.max.session.timeout.ms"},
		{map[string]string{"consumer.heartbeat.interval.ms": "4999"}, "group.consumer.min.heartbeat.interval.ms"},
		{map[string]string{"consumer.heartbeat.interval.ms": "x"}, "consumer.heartbeat.interval.ms"},
		{map[string]string{"session.timeout.ms": "1"}, "unknown group config"},
	} {
		err := ValidateGroupConfigs(tc.cfg, bc)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one mentioning %s", tc.cfg, err, tc.wantErr)
		}
	}
	cv, _ := DescribeGroupConfig("consumer.session.timeout.ms", nil, bc)
	if cv.Value != "45000" || cv.Source != kmsg.ConfigSourceDefaultConfig || cv.Def.ReadOnly {
		t.Errorf("default: %+v", cv)
	}
	cv, _ = DescribeGroupConfig("consumer.session.timeout.ms", map[string]string{"consumer.session.timeout.ms": "50000"}, bc)
	if cv.Value != "50000" || cv.Source != kmsg.ConfigSourceGroupConfig {
		t.Errorf("override: %+v", cv)
	}
}
