package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/node"
)

// testCluster is three in-process nodes forming one cluster over real
// sockets: each a quorum voter and a broker.
type testCluster struct {
	t      *testing.T
	voters string
	cfgs   []node.Config
	nodes  []*testNode
}

// newTestCluster starts size nodes, each config changed by opts first.
func newTestCluster(t *testing.T, size int, opts ...func(*node.Config)) *testCluster {
	c := &testCluster{t: t}
	var voters []string
	for i := range size {
		ctrl := freeAddr(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctrl))
		c.cfgs = append(c.cfgs, node.Config{DataDir: t.TempDir(), KafkaAddr: freeAddr(t), NodeID: int32(i + 1),
			ControllerAddr: ctrl, Rack: fmt.Sprintf("rack-%d", i%2)})
		for _, o := range opts {
			o(&c.cfgs[i])
		}
	}
	c.voters = strings.Join(voters, ",")
	c.nodes = make([]*testNode, size)
	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() { c.start(i) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

// start starts node i; a cluster's nodes start together, each waiting in
// node.Start until the quorum has a leader.
func (c *testCluster) start(i int) {
	tn := &testNode{dir: c.cfgs[i].DataDir, logs: &syncBuffer{}}
	cfg := c.cfgs[i]
	cfg.Voters = c.voters
	cfg.Logger = slog.New(slog.NewTextHandler(tn.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	// A restart reuses the node's ports; while it was down a client's
	// outgoing connection may have been given one of them for a while.
	for tries := 0; err != nil && strings.Contains(err.Error(), "address already in use") && tries < 50; tries++ {
		time.Sleep(100 * time.Millisecond)
		n, err = node.Start(ctx, cfg)
	}
	if err != nil {
		c.t.Errorf("starting node %d: %v\n%s", i+1, err, tn.logs.String())
		return
	}
	tn.Node = n
	c.nodes[i] = tn
}

func (c *testCluster) stop(i int) {
	if tn := c.nodes[i]; tn != nil && tn.Node != nil {
		tn.stop(c.t)
		if c.t.Failed() {
			c.t.Logf("node %d log:\n%s", i+1, clip(tn.logs.String(), 20000))
		}
	}
}

func (c *testCluster) seeds() []string {
	var out []string
	for _, cfg := range c.cfgs {
		out = append(out, cfg.KafkaAddr)
	}
	return out
}

// TestClusterSharesMetadata: three nodes form one cluster; a topic created
// through one node is seen by all, its partitions spread over the brokers;
// clients produce, consume and commit group offsets across the brokers;
// with one node down the other two still change the metadata, and the
// node that comes back catches up.
func TestClusterSharesMetadata(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	adm := newAdmin(t, c.cfgs[0].KafkaAddr)
	createTopic(t, adm, "spread", 6, nil)

	// Every broker answers the same metadata: 3 brokers, the topic's
	// leaders on all three. The controller answered CreateTopics; the
	// others apply the change a moment later, as in Kafka.
	for i := range c.cfgs {
		var md kadm.Metadata
		waitFor(t, fmt.Sprintf("node %d to see the topic", i+1), func() bool {
			var err error
			md, err = newAdmin(t, c.cfgs[i].KafkaAddr).Metadata(testContext(t), "spread")
			return err == nil && len(md.Topics["spread"].Partitions) == 6
		})
		if len(md.Brokers) != 3 {
			t.Errorf("node %d lists %d brokers, want 3", i+1, len(md.Brokers))
		}
		leaders := map[int32]bool{}
		for _, p := range md.Topics["spread"].Partitions {
			leaders[p.Leader] = true
		}
		if len(leaders) != 3 {
			t.Errorf("node %d: partitions of spread led by %v, want all 3 brokers", i+1, leaders)
		}
		if md.Controller < 1 || md.Controller > 3 {
			t.Errorf("node %d names controller %d", i+1, md.Controller)
		}
	}

	// Produce 600 records at acks=all through clients that know every
	// broker, then consume them in a group that commits.
	cl := newClient(t, c.cfgs[1].KafkaAddr, kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic("spread"))
	const n = 600
	for i := range n {
		cl.Produce(testContext(t), &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	consumer := newClient(t, c.cfgs[2].KafkaAddr, kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics("spread"),
		kgo.ConsumerGroup("cluster-group"), kgo.DisableAutoCommit())
	seen := map[string]bool{}
	for len(seen) < n {
		fs := consumer.PollFetches(testContext(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if err := consumer.CommitUncommittedOffsets(testContext(t)); err != nil {
		t.Fatalf("committing through the group coordinator: %v", err)
	}
	lags, err := adm.Lag(testContext(t), "cluster-group")
	if err != nil {
		t.Fatal(err)
	}
	lags.Each(func(l kadm.DescribedGroupLag) {
		if l.Lag.Total() != 0 {
			t.Errorf("group lag %d after committing everything", l.Lag.Total())
		}
	})

	// A cluster-wide dynamic broker config set through one broker takes
	// effect on every broker: each describes a topic's inherited value.
	if _, err := adm.AlterBrokerConfigs(testContext(t), []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("3600000")}}); err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= 3; id++ {
		waitFor(t, fmt.Sprintf("broker %d to take the cluster-wide retention", id), func() bool {
			return describedRetention(t, cl, id) == "3600000"
		})
	}

	// One node down: the other two still change the metadata.
	c.stop(2)
	createTopic(t, adm, "while-down", 2, nil)
	c.start(2)
	waitFor(t, "the restarted node to see the topic created while it was down", func() bool {
		md, err := newAdmin(t, c.cfgs[2].KafkaAddr).Metadata(testContext(t), "while-down")
		return err == nil && md.Topics["while-down"].Err == nil && len(md.Topics["while-down"].Partitions) == 2
	})
}

// A node given another --voters list than the data directory was made
// with is refused with a message naming both clusters.
func TestClusterRefusesOtherVoters(t *testing.T) {
	c := newTestCluster(t, 1)
	if t.Failed() {
		t.FailNow()
	}
	c.stop(0)
	cfg := c.cfgs[0]
	cfg.Voters = "1@" + cfg.ControllerAddr + ",2@127.0.0.1:1"
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err == nil {
		n.Close()
		t.Fatal("a node started on a data directory of another cluster")
	}
	if !strings.Contains(err.Error(), "belongs to cluster") {
		t.Errorf("refusal %q does not say the directory belongs to another cluster", err)
	}
	cfg.Voters = ""
	if n, err := node.Start(ctx, cfg); err == nil {
		n.Close()
		t.Fatal("a cluster member's data directory started as a standalone node")
	}
}

// TestClusterProcessesSurviveKill9: three `eddy serve --voters` processes
// form a cluster; records produced at acks=all to partitions on every
// broker survive a kill -9 of one of them; the other two keep changing
// the metadata while it is down; restarted, it serves its partition again.
func TestClusterProcessesSurviveKill9(t *testing.T) {
	const size = 3
	var voters, kafka, dirs []string
	for i := range size {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, freeAddr(t)))
		kafka = append(kafka, freeAddr(t))
		dirs = append(dirs, t.TempDir())
	}
	start := func(i int) *childBroker {
		ctrl := strings.SplitN(voters[i], "@", 2)[1]
		args := serveArgs(dirs[i], kafka[i], "--node-id", fmt.Sprint(i+1), "--controller-addr", ctrl,
			"--voters", strings.Join(voters, ","))
		return spawnChild(t, kafka[i], exec.Command(eddyBinary(t), args...))
	}
	nodes := make([]*childBroker, size)
	for i := range size {
		nodes[i] = start(i)
	}
	for _, n := range nodes {
		n.waitListening(t, 60*time.Second)
	}
	adm := kadm.NewClient(newClient(t, kafka[0], kgo.SeedBrokers(kafka...)))
	createTopic(t, adm, "durable", 3, nil)
	cl := newClient(t, kafka[0], kgo.SeedBrokers(kafka...), kgo.DefaultProduceTopic("durable"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 300
	for i := range n {
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	nodes[2].kill()
	createTopic(t, adm, "after-kill", 1, nil)
	nodes[2] = start(2)
	nodes[2].waitListening(t, 60*time.Second)

	seen := map[string]bool{}
	for _, r := range consumeAll(t, kafka[1], "durable", n, kgo.SeedBrokers(kafka...)) {
		seen[string(r.Value)] = true
	}
	if len(seen) != n {
		t.Errorf("%d of %d acknowledged records read back after kill -9 and restart", len(seen), n)
	}
	md, err := adm.Metadata(testContext(t), "after-kill")
	if err != nil || md.Topics["after-kill"].Err != nil {
		t.Errorf("topic created while a node was down: %v %v", err, md.Topics["after-kill"].Err)
	}
}

// describeQuorum asks for the metadata quorum through a client that knows
// every broker (kgo sends it to the controller Metadata names).
func describeQuorum(t *testing.T, cl *kgo.Client, version int16, topic string) *kmsg.DescribeQuorumResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(version)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatalf("DescribeQuorum v%d: %v", version, err)
	}
	return resp
}

// TestDescribeQuorum: the quorum's leader answers with its term, commit
// index and every voter caught up; a standalone node is a quorum of itself.
func TestDescribeQuorum(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	waitFor(t, "every voter to report the leader's log end offset", func() bool {
		resp := describeQuorum(t, cl, 2, "__cluster_metadata")
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return false
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID < 1 || p.LeaderID > 3 || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 3 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < p.HighWatermark {
				return false
			}
		}
		return len(resp.Nodes) == 3 && len(resp.Nodes[0].Listeners) == 1
	})
	for v := int16(0); v <= 2; v++ {
		if p := describeQuorum(t, cl, v, "other").Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("v%d: a topic other than __cluster_metadata answered %v", v, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	tn := startNode(t, "", nil)
	p := describeQuorum(t, newClient(t, tn.KafkaAddr()), 0, "__cluster_metadata").Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != 1 || len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != 1 || p.HighWatermark != -1 {
		t.Errorf("standalone node describes its quorum as %+v", p)
	}
}

// describedRetention asks broker id itself for topic spread's retention.ms.
func describedRetention(t *testing.T, cl *kgo.Client, id int32) string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, "spread", []string{"retention.ms"}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testContext(t), cl.Broker(int(id)))
	if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 {
		return ""
	}
	if v := resp.Resources[0].Configs[0].Value; v != nil {
		return *v
	}
	return ""
}

// TestBrokerHeartbeatAPI: BrokerHeartbeat (63), every version, is answered
// by the controller alone (NOT_CONTROLLER elsewhere, and on a standalone
// node); the controller refuses an unknown broker or an older incarnation
// with STALE_BROKER_EPOCH and never unfences for it.
func TestBrokerHeartbeatAPI(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	md, err := kadm.NewClient(cl).Metadata(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	heartbeat := func(to int32, v int16, broker int32, epoch int64) *kmsg.BrokerHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.Version, req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = v, broker, epoch, -1
		resp, err := req.RequestWith(testContext(t), cl.Broker(int(to)))
		if err != nil {
			t.Fatalf("BrokerHeartbeat v%d to %d: %v", v, to, err)
		}
		return resp
	}
	other := md.Controller%3 + 1
	for v := int16(0); v <= 2; v++ {
		if resp := heartbeat(other, v, other, 1); resp.ErrorCode != kerr.NotController.Code {
			t.Errorf("v%d to non-controller %d: %v, want NOT_CONTROLLER", v, other, kerr.ErrorForCode(resp.ErrorCode))
		}
		for _, id := range []int32{other, 99} {
			resp := heartbeat(md.Controller, v, id, 1)
			if resp.ErrorCode != kerr.StaleBrokerEpoch.Code || !resp.IsFenced {
				t.Errorf("v%d for broker %d at a stale epoch: %v fenced=%v, want STALE_BROKER_EPOCH", v, id, kerr.ErrorForCode(resp.ErrorCode), resp.IsFenced)
			}
		}
	}
	md, err = kadm.NewClient(cl).Metadata(testContext(t))
	if err != nil || len(md.Brokers) != 3 {
		t.Errorf("after stale heartbeats: %d live brokers, %v; want 3", len(md.Brokers), err)
	}

	tn := startNode(t, "", nil)
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = 1, 1
	resp, err := req.RequestWith(testContext(t), newClient(t, tn.KafkaAddr()))
	if err != nil || resp.ErrorCode != kerr.NotController.Code {
		t.Errorf("standalone node: %+v, %v; want NOT_CONTROLLER", resp, err)
	}
}

// TestManualAssignment: CreateTopics and CreatePartitions with replica
// assignments place partitions where asked, the first replica leading; an
// assignment naming an unknown broker is INVALID_REPLICA_ASSIGNMENT.
func TestManualAssignment(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	create := func(name string, assignment ...[]int32) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for i, replicas := range assignment {
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: replicas})
		}
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10000
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := create("by-hand", []int32{3, 1}, []int32{2, 3}); code != 0 {
		t.Fatalf("creating by-hand: %v", kerr.ErrorForCode(code))
	}
	if code := create("unknown-broker", []int32{3, 9}); code != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("assignment to broker 9: %v, want INVALID_REPLICA_ASSIGNMENT", kerr.ErrorForCode(code))
	}
	// kadm reads the partition count from any broker: each must know
	// the topic first, as with Kafka, whose brokers learn it a little
	// after the controller commits it.
	c.waitTopicEverywhere("by-hand")
	adm := kadm.NewClient(cl)
	grown, err := adm.CreatePartitions(testContext(t), 1, "by-hand")
	if err == nil {
		err = grown.Error()
	}
	if err != nil {
		t.Fatalf("growing by-hand: %v", err)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "by-hand", 4
	rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1, 2}}}
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10000
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("growing by-hand to 4 with an assignment: %+v, %v", resp, err)
	}
	want := map[int32][]int32{0: {3, 1}, 1: {2, 3}, 3: {1, 2}}
	waitFor(t, "every partition placed as asked", func() bool {
		md, err := newAdmin(t, c.cfgs[1].KafkaAddr).Metadata(testContext(t), "by-hand")
		if err != nil || len(md.Topics["by-hand"].Partitions) != 4 {
			return false
		}
		for p, replicas := range want {
			got := md.Topics["by-hand"].Partitions[p]
			if !slices.Equal(got.Replicas, replicas) || got.Leader != replicas[0] {
				return false
			}
		}
		return len(md.Topics["by-hand"].Partitions[2].Replicas) == 2
	})
}

// waitTopicEverywhere waits until every running node's Metadata lists
// topic.
func (c *testCluster) waitTopicEverywhere(topic string) {
	c.t.Helper()
	for i, cfg := range c.cfgs {
		if c.nodes[i] == nil || c.nodes[i].Node == nil {
			continue
		}
		cl := newClient(c.t, cfg.KafkaAddr)
		waitFor(c.t, fmt.Sprintf("node %d to know topic %s", i+1, topic), func() bool {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(testContext(c.t), cl.Broker(int(cfg.NodeID)))
			return err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) > 0
		})
	}
}

// addObserver starts one more node, outside --voters: a broker that
// follows the quorum as an observer. It returns the node's index.
func (c *testCluster) addObserver() int {
	i := len(c.cfgs)
	c.cfgs = append(c.cfgs, node.Config{DataDir: c.t.TempDir(), KafkaAddr: freeAddr(c.t), NodeID: int32(i + 1)})
	c.nodes = append(c.nodes, nil)
	c.start(i)
	return i
}

// TestObserverBroker: a node outside --voters joins as a broker that
// observes the metadata quorum. It is registered and unfenced, receives
// replicas and leaderships, creates a topic through its own quorum
// connection, serves acks=all writes, reads and a consumer group to a
// client that knows only it, is listed by the quorum leader's
// DescribeQuorum as an observer, and after a restart replays its
// metadata, rejoins and catches its replicas up.
func TestObserverBroker(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	o := c.addObserver()
	if t.Failed() {
		t.FailNow()
	}
	addr := c.cfgs[o].KafkaAddr
	liveBrokers := func() int {
		md, err := kadm.NewClient(newClient(t, addr)).Metadata(testContext(t))
		if err != nil {
			return 0
		}
		return len(md.Brokers)
	}
	if n := liveBrokers(); n != 4 {
		t.Fatalf("the observer's Metadata lists %d live brokers, want 4", n)
	}

	adm := kadm.NewClient(newClient(t, addr))
	createTopicRF(t, adm, "wide", 8, 3, nil)
	c.waitTopicEverywhere("wide")
	md, err := adm.Metadata(testContext(t), "wide")
	if err != nil {
		t.Fatal(err)
	}
	hosted, led := 0, 0
	for _, p := range md.Topics["wide"].Partitions {
		if slices.Contains(p.Replicas, 4) {
			hosted++
		}
		if p.Leader == 4 {
			led++
		}
	}
	if hosted == 0 || led == 0 {
		t.Fatalf("the observer hosts %d and leads %d of 8 partitions, want some of each: %+v", hosted, led, md.Topics["wide"].Partitions)
	}

	prod := newClient(t, addr, kgo.DefaultProduceTopic("wide"), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(testContext(t), &kgo.Record{Value: fmt.Appendf(nil, "w%03d", i)}).FirstErr(); err != nil {
				t.Fatalf("producing through the observer: %v", err)
			}
		}
	}
	produce(0, 200)
	consumeAll(t, addr, "wide", 200, kgo.ConsumerGroup("through-observer"))

	cl := newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...))
	waitFor(t, "the quorum leader to list broker 4 as an observer", func() bool {
		resp := describeQuorum(t, cl, 2, "__cluster_metadata")
		if resp.ErrorCode != 0 {
			return false
		}
		p := resp.Topics[0].Partitions[0]
		return len(p.Observers) == 1 && p.Observers[0].ReplicaID == 4 && p.Observers[0].LogEndOffset > 0 && len(p.CurrentVoters) == 3
	})

	c.stop(o)
	produce(200, 300) // through the voters, while the observer is down
	c.start(o)
	if t.Failed() {
		t.FailNow()
	}
	if n := liveBrokers(); n != 4 {
		t.Fatalf("after its restart the observer's Metadata lists %d live brokers, want 4", n)
	}
	waitFor(t, "broker 4 to rejoin every ISR it belongs to", func() bool {
		md, err := kadm.NewClient(newClient(t, addr)).Metadata(testContext(t), "wide")
		if err != nil {
			return false
		}
		for _, p := range md.Topics["wide"].Partitions {
			if p.Err != nil || slices.Contains(p.Replicas, 4) && !slices.Contains(p.ISR, 4) {
				return false
			}
		}
		return true
	})
	consumeAll(t, addr, "wide", 300)
}

// TestDuplicateVoterID: a second node started with a voter's --node-id
// (and a quorum listener of its own) never joins: the voters dial the
// address --voters gives for that id, not it. It says so in its log
// instead of waiting in silence, and the cluster is not disturbed.
func TestDuplicateVoterID(t *testing.T) {
	c := newTestCluster(t, 3)
	if t.Failed() {
		t.FailNow()
	}
	logs := &syncBuffer{}
	cfg := node.Config{DataDir: t.TempDir(), KafkaAddr: freeAddr(t), NodeID: 1, ControllerAddr: freeAddr(t), Voters: c.voters,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 13*time.Second)
	defer cancel()
	if n, err := node.Start(ctx, cfg); err == nil {
		n.Close()
		t.Fatal("a second node with voter 1's id started")
	}
	if !strings.Contains(logs.String(), "another node may run with this id") {
		t.Errorf("the duplicate node did not say what is wrong:\n%s", logs.String())
	}
	adm := kadm.NewClient(newClient(t, c.cfgs[0].KafkaAddr, kgo.SeedBrokers(c.seeds()...)))
	createTopicRF(t, adm, "undisturbed", 3, 3, nil)
}
