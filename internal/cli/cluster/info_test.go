package cluster_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/cluster"
)

func TestInfo(t *testing.T) {
	tests := []struct {
		name       string
		opts       []kfake.Opt
		wantSource string
	}{
		{name: "DescribeCluster", opts: nil, wantSource: "DescribeCluster"},
		// Kafka 2.7 predates DescribeCluster: the answer comes from Metadata.
		{name: "Metadata fallback", opts: []kfake.Opt{kfake.MaxVersions(kversion.V2_7_0())}, wantSource: "Metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := clienttest.Cluster(t, append([]kfake.Opt{kfake.NumBrokers(3), kfake.ClusterID("eddy-test")}, tt.opts...)...)

			res := clienttest.Run(t, cluster.Command, "", "info", "-b", addr, "--format", "json")
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			var got struct {
				ClusterID  string `json:"cluster_id"`
				Controller int32
				Source     string
				Brokers    []struct {
					ID   int32
					Host string
					Port int32
				}
			}
			if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
				t.Fatalf("%v in %s", err, res.Stdout)
			}
			if got.ClusterID != "eddy-test" || got.Source != tt.wantSource || len(got.Brokers) != 3 || got.Controller < 0 {
				t.Errorf("info = %+v", got)
			}
			for i, b := range got.Brokers {
				if b.ID != int32(i) || b.Host == "" || b.Port == 0 {
					t.Errorf("broker %d = %+v", i, b)
				}
			}

			res = clienttest.Run(t, cluster.Command, "", "info", "-b", addr)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			for _, w := range []string{"ID          eddy-test", "CONTROLLER", "HOST", "PORT", "RACK", "STATUS", "alive", "*"} {
				if !strings.Contains(res.Stdout, w) {
					t.Errorf("text output lacks %q:\n%s", w, res.Stdout)
				}
			}
		})
	}
}

func TestInfoUnreachable(t *testing.T) {
	res := clienttest.Run(t, cluster.Command, "", "info", "-b", "127.0.0.1:1")
	if res.Err == nil || !strings.Contains(res.Err.Error(), "requesting cluster metadata") {
		t.Fatalf("error = %v", res.Err)
	}
}

// Against a real (standalone) Eddy node, info includes the metadata
// quorum: a quorum of that one node, offsets unknown.
func TestInfoQuorum(t *testing.T) {
	addr := clienttest.Eddy(t, nil, nil)
	res := clienttest.Run(t, cluster.Command, "", "info", "-b", addr, "--format", "json")
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var got struct {
		Quorum *struct {
			Leader        int32
			HighWatermark int64 `json:"high_watermark"`
			Voters        []struct {
				ID  int32
				Lag int64
			}
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, res.Stdout)
	}
	if q := got.Quorum; q == nil || q.Leader != 1 || q.HighWatermark != -1 || len(q.Voters) != 1 || q.Voters[0].ID != 1 || q.Voters[0].Lag != -1 {
		t.Errorf("quorum = %+v in %s", got.Quorum, res.Stdout)
	}
	res = clienttest.Run(t, cluster.Command, "", "info", "-b", addr)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, w := range []string{"QUORUM", "LEADER", "MEMBER", "ROLE", "voter", "LOG END OFFSET", "LAG"} {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("text output lacks %q:\n%s", w, res.Stdout)
		}
	}
}
