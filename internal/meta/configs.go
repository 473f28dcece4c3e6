package meta

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
)

// ConfigResource names a resource whose configs the store keeps apart
// from topics, as KRaft's ConfigRecord does: a BROKER (Name "" for the
// cluster-wide defaults, else a broker id) or a GROUP (Name the group id).
type ConfigResource struct {
	Type kmsg.ConfigResourceType
	Name string
}

// storedConfigTypes are the resource types ConfigResource may name.
func storedConfigType(t kmsg.ConfigResourceType) bool {
	return t == kmsg.ConfigResourceTypeBroker || t == kmsg.ConfigResourceTypeGroupConfig
}

// Configs returns a copy of a resource's configs; nil if it has none.
func (s *Store) Configs(r ConfigResource) map[string]string { return s.Image().Configs(r) }

// Config returns one config of a resource, without copying the rest (the
// group coordinators read group configs on every heartbeat).
func (s *Store) Config(r ConfigResource, name string) (string, bool) {
	return s.Image().Config(r, name)
}

// BrokerResource names the BROKER config resource of broker id, or the
// cluster-wide defaults when perBroker is false.
func BrokerResource(id int32, perBroker bool) ConfigResource {
	if !perBroker {
		return ConfigResource{kmsg.ConfigResourceTypeBroker, ""}
	}
	return ConfigResource{kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id))}
}

// BrokerConfig returns static with the stored dynamic configs of the
// cluster and of broker id on top: broker id's effective configuration.
func (s *Store) BrokerConfig(static config.BrokerConfig, id int32) config.BrokerConfig {
	return static.WithDynamic(s.Configs(BrokerResource(id, false)), s.Configs(BrokerResource(id, true)))
}
