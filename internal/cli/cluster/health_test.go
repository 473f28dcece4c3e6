package cluster_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/cluster"
)

// TestHealth: a kfake cluster and a standalone Eddy node are healthy, in
// text and JSON, and the command succeeds. (A cluster with a broker down:
// TestClusterHealthCLI in internal/node.)
func TestHealth(t *testing.T) {
	for name, addr := range map[string]string{
		"kfake": clienttest.Cluster(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "orders")),
		"eddy":  clienttest.Eddy(t, nil, map[string]int32{"orders": 3}),
	} {
		t.Run(name, func(t *testing.T) {
			res := clienttest.Run(t, cluster.Command, "", "health", "-b", addr)
			if res.Err != nil || !strings.HasPrefix(res.Stdout, "healthy\n") || !strings.Contains(res.Stdout, "BROKERS") {
				t.Fatalf("health: %v\n%s", res.Err, res.Stdout)
			}
			res = clienttest.Run(t, cluster.Command, "", "health", "-b", addr, "--format", "json")
			var got struct {
				Healthy         bool
				Problems        []string
				UnderReplicated []any `json:"under_replicated"`
				Offline         []any
			}
			if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
				t.Fatalf("%v in %s", err, res.Stdout)
			}
			if res.Err != nil || !got.Healthy || got.Problems == nil || len(got.Problems) != 0 || got.UnderReplicated == nil || got.Offline == nil {
				t.Errorf("health --format json: %v\n%s", res.Err, res.Stdout)
			}
		})
	}
}

func TestHealthUnreachable(t *testing.T) {
	res := clienttest.Run(t, cluster.Command, "", "health", "-b", "127.0.0.1:1")
	if res.Err == nil || !strings.Contains(res.Err.Error(), "requesting cluster metadata") {
		t.Fatalf("error = %v", res.Err)
	}
}
