package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/cluster"
	"github.com/eddy-streaming/eddy/internal/cli/topic"
	"github.com/eddy-streaming/eddy/internal/node"
)

// withSettings sets Kafka broker properties, given as key=value.
func withSettings(sets ...string) func(*node.Config) {
	return func(cfg *node.Config) {
		cfg.Settings = map[string]string{}
		for _, s := range sets {
			k, v, _ := strings.Cut(s, "=")
			cfg.Settings[k] = v
		}
	}
}

// adminTopic is the topic TestClusterAdminSurface describes and elects.
const adminTopic = "admin"

// TestClusterAdminSurface: with one of three brokers down, Metadata,
// DescribeCluster and the CLI show it fenced and its replicas offline,
// and a preferred election cannot give it back its partitions; restarted
// and in sync again, a preferred election does, and a second one has
// nothing to do.
func TestClusterAdminSurface(t *testing.T) {
	// No automatic rebalance: only the test's elections move leaders back.
	c := newTestCluster(t, 3, withSettings(append(slices.Clone(clusterTestSettings), "auto.leader.rebalance.enable=false")...))
	if t.Failed() {
		t.FailNow()
	}
	seeds := strings.Join(c.seeds(), ",")
	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(testContext(t), 6, 3, nil, adminTopic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", adminTopic, err)
	}
	md := waitPartitions(t, adm, "every partition in sync under its preferred leader", 3, func(p kadm.PartitionDetail) bool {
		return len(p.ISR) == 3 && p.Leader == p.Replicas[0]
	})

	// Stop a broker other than the controller; placement spreads the
	// preferred leaders, so it is the first replica of some partitions.
	victim := int32(1)
	if md.Controller == victim {
		victim = 2
	}
	prefersVictim := map[int32]bool{}
	for _, p := range md.Topics[adminTopic].Partitions {
		prefersVictim[p.Partition] = p.Replicas[0] == victim
	}
	if !slices.Contains(slices.Collect(maps.Values(prefersVictim)), true) {
		t.Fatalf("broker %d is the preferred leader of no partition: %+v", victim, md.Topics[adminTopic].Partitions)
	}
	c.stop(int(victim - 1))
	waitPartitions(t, adm, fmt.Sprintf("broker %d to leave the leaderships and ISRs, offline", victim), 2, func(p kadm.PartitionDetail) bool {
		return p.Leader > 0 && p.Leader != victim && len(p.ISR) == 2 && !slices.Contains(p.ISR, victim) &&
			slices.Equal(p.OfflineReplicas, []int32{victim})
	})
	checkFencedBrokers(t, cl, []int32{victim})
	checkElection(t, adm, "preferred leader down", func(p int32) error {
		if prefersVictim[p] {
			return kerr.PreferredLeaderNotAvailable
		}
		return kerr.ElectionNotNeeded
	})
	checkCLI(t, seeds, md.Controller, victim)

	c.start(int(victim - 1))
	if t.Failed() {
		t.FailNow()
	}
	waitPartitions(t, adm, fmt.Sprintf("broker %d back in every ISR", victim), 3, func(p kadm.PartitionDetail) bool {
		return len(p.ISR) == 3 && len(p.OfflineReplicas) == 0
	})
	checkFencedBrokers(t, cl, nil)
	checkElection(t, adm, "preferred leader back", func(p int32) error {
		if prefersVictim[p] {
			return nil
		}
		return kerr.ElectionNotNeeded
	})
	waitPartitions(t, adm, "every partition led by its preferred leader", 3, func(p kadm.PartitionDetail) bool {
		return p.Leader == p.Replicas[0]
	})
	checkElection(t, adm, "second election", func(int32) error { return kerr.ElectionNotNeeded })
	// Asked for every partition, those already led as asked are left out.
	all, err := adm.ElectLeaders(testContext(t), kadm.ElectPreferredReplica, nil)
	if err != nil || len(all[adminTopic]) != 0 {
		t.Errorf("election of all partitions: %v, %+v", err, all)
	}
	checkCLI(t, seeds, -1, 0)
}

// waitPartitions waits until Metadata lists the live brokers given and
// every partition of adminTopic answers without error and satisfies ok.
func waitPartitions(t *testing.T, adm *kadm.Client, what string, brokers int, ok func(kadm.PartitionDetail) bool) kadm.Metadata {
	t.Helper()
	var md kadm.Metadata
	waitFor(t, what, func() bool {
		var err error
		md, err = adm.Metadata(testContext(t), adminTopic)
		if err != nil || len(md.Brokers) != brokers || md.Topics[adminTopic].Err != nil || len(md.Topics[adminTopic].Partitions) != 6 {
			return false
		}
		for _, p := range md.Topics[adminTopic].Partitions {
			if p.Err != nil || !ok(p) {
				return false
			}
		}
		return true
	})
	return md
}

// checkFencedBrokers checks that DescribeCluster lists the three brokers
// with fenced flagged when asked for fenced ones, and only the live ones
// when not.
func checkFencedBrokers(t *testing.T, cl *kgo.Client, fenced []int32) {
	t.Helper()
	for _, include := range []bool{false, true} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = include
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("DescribeCluster: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
		}
		var ids, gotFenced []int32
		for _, b := range resp.Brokers {
			ids = append(ids, b.NodeID)
			if b.IsFenced {
				gotFenced = append(gotFenced, b.NodeID)
			}
		}
		want := []int32{1, 2, 3}
		if !include {
			want = slices.DeleteFunc(want, func(id int32) bool { return slices.Contains(fenced, id) })
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) || (include && !slices.Equal(gotFenced, fenced)) || (!include && gotFenced != nil) {
			t.Errorf("DescribeCluster (fenced included: %v) lists %v, fenced %v; want %v, fenced %v", include, ids, gotFenced, want, fenced)
		}
	}
}

// checkElection runs a preferred election of every partition of
// adminTopic and checks each partition's outcome.
func checkElection(t *testing.T, adm *kadm.Client, what string, want func(partition int32) error) {
	t.Helper()
	set := kadm.TopicsSet{}
	set.Add(adminTopic, 0, 1, 2, 3, 4, 5)
	results, err := adm.ElectLeaders(testContext(t), kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatalf("%s: ElectLeaders: %v", what, err)
	}
	if len(results[adminTopic]) != 6 {
		t.Fatalf("%s: ElectLeaders answered %+v", what, results)
	}
	for p, r := range results[adminTopic] {
		if w := want(p); (w == nil) != (r.Err == nil) || w != nil && !errors.Is(r.Err, w) {
			t.Errorf("%s: partition %d elected with %v, want %v", what, p, r.Err, w)
		}
	}
}

// checkCLI runs eddy cluster info and eddy topic describe against the
// cluster: with down > 0, broker down is fenced and offline in every
// partition, and controller is the controller; with down 0, all is well.
func checkCLI(t *testing.T, seeds string, controller, down int32) {
	t.Helper()
	res := clienttest.Run(t, cluster.Command, "", "info", "-b", seeds, "--format", "json")
	if res.Err != nil {
		t.Fatalf("cluster info: %v", res.Err)
	}
	var info struct {
		Controller int32
		Source     string
		Brokers    []struct {
			ID     int32
			Rack   *string
			Fenced bool
		}
		Quorum *struct {
			Leader int32
			Voters []struct {
				ID  int32
				Lag int64
			}
		}
	}
	decodeJSON(t, res.Stdout, &info)
	if info.Source != "DescribeCluster" || len(info.Brokers) != 3 || info.Quorum == nil || len(info.Quorum.Voters) != 3 ||
		info.Quorum.Leader != info.Controller || controller > 0 && info.Controller != controller {
		t.Errorf("cluster info: %s", res.Stdout)
	}
	for _, b := range info.Brokers {
		if b.Fenced != (b.ID == down) || b.Rack == nil || *b.Rack == "" {
			t.Errorf("cluster info, broker %d down: broker %+v", down, b)
		}
	}
	for _, v := range info.Quorum.Voters {
		if v.ID == info.Quorum.Leader && v.Lag != 0 {
			t.Errorf("cluster info: the quorum leader lags itself by %d", v.Lag)
		}
	}
	res = clienttest.Run(t, cluster.Command, "", "info", "-b", seeds)
	wantText := []string{"STATUS", "alive", "QUORUM", "MEMBER", "voter"}
	if down > 0 {
		wantText = append(wantText, "fenced")
	}
	checkContains(t, "cluster info", res, wantText...)

	res = clienttest.Run(t, topic.Command, "", "describe", adminTopic, "-b", seeds, "--format", "json")
	if res.Err != nil {
		t.Fatalf("topic describe: %v", res.Err)
	}
	var described []struct {
		Partitions []struct {
			Leader          int32
			Replicas        []int32
			ISR             []int32
			Offline         []int32 `json:"offline_replicas"`
			UnderReplicated bool    `json:"under_replicated"`
			NoLeader        bool    `json:"offline"`
		}
	}
	decodeJSON(t, res.Stdout, &described)
	if len(described) != 1 || len(described[0].Partitions) != 6 {
		t.Fatalf("topic describe: %s", res.Stdout)
	}
	for _, p := range described[0].Partitions {
		ok := len(p.Replicas) == 3 && !p.NoLeader && p.Leader > 0
		if down > 0 {
			ok = ok && slices.Equal(p.Offline, []int32{down}) && p.UnderReplicated && len(p.ISR) == 2 && p.Leader != down
		} else {
			ok = ok && len(p.Offline) == 0 && !p.UnderReplicated && len(p.ISR) == 3 && p.Leader == p.Replicas[0]
		}
		if !ok {
			t.Errorf("topic describe, broker %d down: partition %+v", down, p)
		}
	}
	res = clienttest.Run(t, topic.Command, "", "describe", adminTopic, "-b", seeds)
	wantText = []string{"OFFLINE", "FLAGS"}
	if down > 0 {
		wantText = append(wantText, fmt.Sprintf("[%d]", down), "under-replicated")
	}
	checkContains(t, "topic describe", res, wantText...)
	if down == 0 && strings.Contains(res.Stdout, "under-replicated") {
		t.Errorf("topic describe flags a partition with every broker up:\n%s", res.Stdout)
	}
}

func checkContains(t *testing.T, what string, res clienttest.Result, want ...string) {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("%s: %v", what, res.Err)
	}
	for _, w := range want {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, res.Stdout)
		}
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
}
