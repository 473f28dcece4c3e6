package meta

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestStoreResourceConfigs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	s := openStore(t, dir)
	def := ConfigResource{kmsg.ConfigResourceTypeBroker, ""}
	grp := ConfigResource{kmsg.ConfigResourceTypeGroupConfig, "g"}
	for r, cfg := range map[ConfigResource]map[string]string{
		def:                                  {"log.retention.ms": "1"},
		grp:                                  {"consumer.session.timeout.ms": "50000"},
		{kmsg.ConfigResourceTypeBroker, "1"}: {"message.max.bytes": "10"},
	} {
		if err := s.SetConfigs(r, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetConfigs(ConfigResource{kmsg.ConfigResourceTypeBroker, "1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfigs(ConfigResource{kmsg.ConfigResourceTypeTopic, "t"}, map[string]string{"a": "b"}); err == nil {
		t.Error("topic configs stored as a resource")
	}
	s = openStore(t, dir)
	if got := s.Configs(def); !maps.Equal(got, map[string]string{"log.retention.ms": "1"}) {
		t.Errorf("cluster default after reopen: %v", got)
	}
	if v, ok := s.Config(grp, "consumer.session.timeout.ms"); !ok || v != "50000" {
		t.Errorf("group config after reopen: %q %v", v, ok)
	}
	if got := s.Configs(ConfigResource{kmsg.ConfigResourceTypeBroker, "1"}); got != nil {
		t.Errorf("deleted broker configs came back: %v", got)
	}
}
