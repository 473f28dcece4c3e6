package cluster

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestHealthProblems: what counts as unhealthy, one row per case.
func TestHealthProblems(t *testing.T) {
	tests := []struct {
		name    string
		brokers []broker
		quorum  *quorum
		parts   []kadm.PartitionDetail
		minISR  int
		want    []string
	}{
		{name: "healthy", brokers: []broker{{ID: 1}, {ID: 2}}, quorum: &quorum{Leader: 1},
			parts: []kadm.PartitionDetail{{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{2, 1}}}, minISR: 2, want: []string{}},
		{name: "no quorum answer", parts: []kadm.PartitionDetail{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}, want: []string{}},
		{name: "fenced", brokers: []broker{{ID: 1}, {ID: 2, Fenced: true}}, want: []string{"broker 2 is fenced"}},
		{name: "no quorum leader", quorum: &quorum{Leader: -1}, want: []string{"the metadata quorum has no leader"}},
		{name: "under-replicated", parts: []kadm.PartitionDetail{{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}},
			want: []string{"1 partition is under-replicated"}},
		{name: "under min ISR", parts: []kadm.PartitionDetail{{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}, {Partition: 1, Leader: 2, Replicas: []int32{1, 2}, ISR: []int32{2}}},
			minISR: 2, want: []string{"2 partitions are under-replicated", "2 partitions are under min.insync.replicas"}},
		{name: "offline", parts: []kadm.PartitionDetail{{Leader: -1, Replicas: []int32{1}, ISR: []int32{}}},
			want: []string{"1 partition is offline", "1 partition is under-replicated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := health{Problems: []string{}, Brokers: tt.brokers, Quorum: tt.quorum}
			for _, p := range tt.parts {
				h.addPartition(p, tt.minISR)
			}
			h.findProblems()
			if !slices.Equal(h.Problems, tt.want) || h.Healthy != (len(tt.want) == 0) {
				t.Errorf("problems %q (healthy %v), want %q", h.Problems, h.Healthy, tt.want)
			}
		})
	}
}
