package node_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestOldClientVersions produces and consumes with the request versions of
// old Kafka releases, down to the oldest we serve (Produce v3, Fetch v4),
// as deployed clients that never upgrade would.
func TestOldClientVersions(t *testing.T) {
	tn := startNode(t, "", nil)
	oldest := kversion.V0_11_0()
	oldest.SetMaxKeyVersion(1, 4) // Fetch v4
	versions := map[string]*kversion.Versions{
		"oldest": oldest, "0.11": kversion.V0_11_0(), "1.0": kversion.V1_0_0(), "2.1": kversion.V2_1_0(),
		"2.4": kversion.V2_4_0(), "3.0": kversion.V3_0_0(), "3.7": kversion.V3_7_0(), "latest": kversion.Stable(),
	}
	adm := newAdmin(t, tn.KafkaAddr())
	for name, v := range versions {
		t.Run(name, func(t *testing.T) {
			topic := "v-" + name
			createTopic(t, adm, topic, 2, nil)
			opts := []kgo.Opt{kgo.MaxVersions(v), kgo.DefaultProduceTopic(topic)}
			cl := newClient(t, tn.KafkaAddr(), opts...)
			want := produceNumbered(t, cl, topic, 200)
			got := consumeAll(t, tn.KafkaAddr(), topic, len(want), kgo.MaxVersions(v))
			checkSameRecords(t, want, got)
		})
	}
}
