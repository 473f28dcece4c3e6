package broker

// Dynamic configs of BROKER and GROUP resources, set by AlterConfigs and
// IncrementalAlterConfigs and kept in the metadata store.
//
// BROKER: the resource named "" holds the cluster-wide defaults, the one
// named after this node's id this broker's own; a property's effective
// value is this broker's, else the cluster default, else the value set at
// start, else Kafka's default (config.BrokerConfig). Only the properties
// Kafka's DynamicBrokerConfig lets AlterConfigs change are accepted; a
// change re-resolves every partition log's config and is handed to
// Config.OnSettingsChange. Names Eddy does not know are kept, as Kafka
// keeps custom properties, and have no effect.
//
// GROUP: per-group overrides of KIP-848 settings (consumer.*), read by the
// group coordinators at each heartbeat. Deleting a group does not delete
// them.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// settings is the effective broker configuration.
func (b *Broker) settings() config.BrokerConfig { return *b.current.Load() }

// loadSettings publishes the static settings with the stored dynamic
// configs on top.
func (b *Broker) loadSettings() {
	b.storeSettings(b.meta.BrokerConfig(b.cfg.Settings, b.cfg.NodeID))
}

// brokerLevel checks a BROKER resource name and says whether it is this
// broker's own (its id) rather than the cluster-wide defaults ("").
func (b *Broker) brokerLevel(name string) (perBroker bool, err error) {
	if err := b.checkBrokerResource(name); err != nil {
		return false, err
	}
	return name != "", nil
}

// alterBrokerConfigs replaces the dynamic configs of a BROKER resource
// with edit(current), after validating them, unless validateOnly.
func (b *Broker) alterBrokerConfigs(name string, validateOnly bool, edit func(perBroker bool, cur map[string]string) (map[string]string, error)) error {
	perBroker, err := b.brokerLevel(name)
	if err != nil {
		return err
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	next, err := edit(perBroker, b.settings().Dynamic(perBroker))
	if err != nil {
		return err
	}
	if err := b.ctrl.AlterBrokerConfigs(perBroker, next, validateOnly); err != nil || validateOnly {
		if errors.Is(err, config.ErrInvalidConfig) {
			// Kafka answers a broker config it refuses with INVALID_REQUEST
			// (KAFKA-13609), bad values included.
			return fmt.Errorf("%w: %w", kerr.InvalidRequest, err)
		}
		return err
	}
	b.loadSettings()
	b.log.Info("dynamic broker configs altered", "resource", name, "configs", next)
	for k := range next {
		if _, known := config.LookupBrokerConfig(k); !known {
			b.log.Info("dynamic broker config unknown to eddy kept without effect", "config", k)
		}
	}
	return b.reconfigureLocked()
}

// reconfigureLocked hands the effective configuration to what uses it:
// every partition log, whose topic configs default to broker properties,
// and OnSettingsChange. The caller holds topicMu.
func (b *Broker) reconfigureLocked() error {
	for _, t := range b.meta.Topics() {
		if err := b.applyTopicConfig(t.Name); err != nil {
			return fmt.Errorf("applying broker configs to the logs of %s: %w", t.Name, err)
		}
	}
	if b.cfg.OnSettingsChange != nil {
		b.cfg.OnSettingsChange(b.settings())
	}
	return nil
}

// describeBrokerAt describes a broker property as it would be with cur as
// the dynamic configs of one level, for APPEND and SUBTRACT.
func (b *Broker) describeBrokerAt(perBroker bool) describeFunc {
	return func(cur map[string]string, name string) (config.ConfigValue, bool) {
		bc := b.settings()
		if perBroker {
			bc = bc.WithDynamic(bc.Dynamic(false), cur)
		} else {
			bc = bc.WithDynamic(cur, bc.Dynamic(true))
		}
		return config.DescribeBrokerConfig(name, bc, perBroker)
	}
}

// groupResource checks a GROUP resource name.
func groupResource(name string) (meta.ConfigResource, error) {
	if name == "" {
		return meta.ConfigResource{}, fmt.Errorf("%w: group name must not be empty", kerr.InvalidRequest)
	}
	return meta.ConfigResource{Type: kmsg.ConfigResourceTypeGroupConfig, Name: name}, nil
}

// alterGroupConfigs replaces a group's config overrides with
// edit(current), after validating them against the broker's bounds,
// unless validateOnly. The group need not exist, as in Kafka.
func (b *Broker) alterGroupConfigs(name string, validateOnly bool, edit func(cur map[string]string) (map[string]string, error)) error {
	res, err := groupResource(name)
	if err != nil {
		return err
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	next, err := edit(b.meta.Configs(res))
	if err != nil {
		return err
	}
	if err := b.ctrl.AlterGroupConfigs(res.Name, next, validateOnly); err != nil || validateOnly {
		return err
	}
	b.log.Info("group configs altered", "group", name, "configs", next)
	return nil
}

// describeGroupAt describes a group config as it would be with cur as the
// group's overrides.
func (b *Broker) describeGroupAt(cur map[string]string, name string) (config.ConfigValue, bool) {
	return config.DescribeGroupConfig(name, cur, b.settings())
}

// groupConfigValues describes a group's configs, all or those named.
func (b *Broker) groupConfigValues(name string, names []string) ([]config.ConfigValue, error) {
	res, err := groupResource(name)
	if err != nil {
		return nil, err
	}
	overrides := b.meta.Configs(res)
	return describeEach(config.GroupConfigDefs(), names, func(n string) (config.ConfigValue, bool) {
		return b.describeGroupAt(overrides, n)
	}), nil
}

// brokerConfigValues describes a BROKER resource, all of it or the names
// asked for.
func (b *Broker) brokerConfigValues(name string, names []string) ([]config.ConfigValue, error) {
	perBroker, err := b.brokerLevel(name)
	if err != nil {
		return nil, err
	}
	all := config.DescribeBrokerConfigs(b.settings(), perBroker)
	if names == nil {
		return all, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []config.ConfigValue
	for _, v := range all {
		if want[v.Def.Name] {
			out = append(out, v)
		}
	}
	return out, nil
}
