package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupEntry is a GROUP config (KIP-848, Kafka's GroupConfig): a per-group
// override of a broker property, bounded by two others.
type groupEntry struct {
	def              ConfigDef
	broker, min, max string // the broker properties: default, lower and upper bound
}

// groupTable lists the group configs that apply to Eddy's groups, with
// Kafka's names. Kafka 4's share.* and streams.* group configs are left
// out until share and streams groups exist.
var groupTable = []groupEntry{
	{ConfigDef{Name: "consumer.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Validate: intAtLeast(1),
		Doc: "Heartbeat interval the coordinator gives the members of this KIP-848 consumer group."},
		"group.consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"},
	{ConfigDef{Name: "consumer.session.timeout.ms", Type: kmsg.ConfigTypeInt, Validate: intAtLeast(1),
		Doc: "How long a member of this KIP-848 consumer group may go without heartbeating before it is removed."},
		"group.consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"},
}

// GroupConfigDefs returns every group config, sorted by name. Defaults
// are the broker properties' (see DescribeGroupConfig).
func GroupConfigDefs() []ConfigDef {
	out := make([]ConfigDef, 0, len(groupTable))
	for _, e := range groupTable {
		out = append(out, e.def)
	}
	return out
}

func lookupGroupConfig(name string) (groupEntry, bool) {
	i := slices.IndexFunc(groupTable, func(e groupEntry) bool { return e.def.Name == name })
	if i < 0 {
		return groupEntry{}, false
	}
	return groupTable[i], true
}

// ValidateGroupConfigs checks a group's config overrides as Kafka's
// GroupConfig.validate does: known names, valid values, each within the
// broker's group.consumer.min/max bounds, and a session timeout longer
// than the heartbeat interval (overrides or, where unset, the broker's
// defaults). The error is a *ConfigError.
func ValidateGroupConfigs(cfg map[string]string, bc BrokerConfig) error {
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		e, ok := lookupGroupConfig(k)
		if !ok {
			return &ConfigError{Key: k, Reason: "unknown group config"}
		}
		if err := e.def.check(cfg[k]); err != nil {
			return err
		}
		n, _ := parseInt(cfg[k], 32)
		if lo := bc.Int(e.min); n < lo {
			return &ConfigError{Key: k, Value: cfg[k], Reason: fmt.Sprintf("must be at least %s (%d)", e.min, lo)}
		}
		if hi := bc.Int(e.max); n > hi {
			return &ConfigError{Key: k, Value: cfg[k], Reason: fmt.Sprintf("must be at most %s (%d)", e.max, hi)}
		}
	}
	session := groupValue("consumer.session.timeout.ms", cfg, bc)
	if heartbeat := groupValue("consumer.heartbeat.interval.ms", cfg, bc); session <= heartbeat {
		return &ConfigError{Key: "consumer.session.timeout.ms", Value: itoa(session),
			Reason: fmt.Sprintf("must be greater than consumer.heartbeat.interval.ms (%d)", heartbeat)}
	}
	return nil
}

// groupValue is a group config's effective value: the override, else the
// broker property it defaults to.
func groupValue(name string, overrides map[string]string, bc BrokerConfig) int64 {
	if v, ok := overrides[name]; ok {
		if n, err := parseInt(v, 32); err == nil {
			return n
		}
	}
	e, _ := lookupGroupConfig(name)
	return bc.Int(e.broker)
}

// DescribeGroupConfig reports group config name for a group with the
// given overrides as Kafka does: the override (source GROUP_CONFIG) or the
// broker property's value (source DEFAULT_CONFIG), never read-only.
func DescribeGroupConfig(name string, overrides map[string]string, bc BrokerConfig) (ConfigValue, bool) {
	e, ok := lookupGroupConfig(name)
	if !ok {
		return ConfigValue{}, false
	}
	cv := ConfigValue{Def: e.def, Value: itoa(bc.Int(e.broker)), Source: kmsg.ConfigSourceDefaultConfig}
	if v, ok := overrides[name]; ok {
		cv.Value, cv.Source = v, kmsg.ConfigSourceGroupConfig
	}
	cv.Def.Default, cv.Def.HasDefault = itoa(bc.Int(e.broker)), true
	cv.Synonyms = []ConfigSynonym{{Name: name, Value: cv.Value, Source: cv.Source}}
	return cv, true
}
