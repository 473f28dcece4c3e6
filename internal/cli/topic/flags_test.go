package topic

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A partition's flags come from its metadata: no leader is offline, an
// ISR smaller than the replicas is under-replicated.
func TestPartitionFlags(t *testing.T) {
	for _, tc := range []struct {
		p    kadm.PartitionDetail
		want string
	}{
		{kadm.PartitionDetail{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}, "-"},
		{kadm.PartitionDetail{Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}}, "under-replicated"},
		{kadm.PartitionDetail{Leader: -1, Replicas: []int32{2}}, "offline,under-replicated"},
	} {
		if got := partitionFlags(buildPartition(tc.p, nil, nil)); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}
