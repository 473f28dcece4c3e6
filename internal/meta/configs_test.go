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
		if _, err := s.Apply(ConfigRecord{r.Type, r.Name, cfg}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(ConfigRecord{Type: kmsg.ConfigResourceTypeBroker, Name: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ConfigRecord{kmsg.ConfigResourceTypeTopic, "t", map[string]string{"a": "b"}}); err == nil {
		t.Error("configs of an unknown topic stored")
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
