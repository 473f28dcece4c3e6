package node_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// procCluster is a cluster of `eddy serve --voters` processes on
// 127.0.0.1, each a quorum voter and a broker, or after the voters a
// broker outside them (an observer), that a test kills with SIGKILL and
// restarts on the same ports and data directories.
type procCluster struct {
	t      *testing.T
	voters []string // id@host:port, of nodes 1..len(voters)
	kafka  []string
	dirs   []string
	sets   []string
	nodes  []*childBroker
	// nodeArgs, if set, adds serve arguments of node i (from 0).
	nodeArgs func(i int) []string
}

// clusterTestSettings make failures show within seconds, not Kafka's
// production defaults (sessions of 9 s, lag of 30 s).
var clusterTestSettings = []string{
	"broker.heartbeat.interval.ms=250", "broker.session.timeout.ms=2000", "replica.lag.time.max.ms=2000",
}

func newProcCluster(t *testing.T, size int, sets ...string) *procCluster {
	t.Helper()
	return newProcClusterObserved(t, size, 0, sets...)
}

// newProcClusterObserved starts voters voting nodes and then observers
// nodes outside --voters.
func newProcClusterObserved(t *testing.T, voters, observers int, sets ...string) *procCluster {
	t.Helper()
	return newProcClusterArgs(t, voters, observers, nil, sets...)
}

// newProcClusterArgs is newProcClusterObserved whose node i (from 0) also
// gets the serve arguments nodeArgs(i), if set.
func newProcClusterArgs(t *testing.T, voters, observers int, nodeArgs func(i int) []string, sets ...string) *procCluster {
	t.Helper()
	c := &procCluster{t: t, sets: append(slices.Clone(clusterTestSettings), sets...), nodeArgs: nodeArgs}
	size := voters + observers
	for i := range size {
		// Below the ephemeral range: a node's port is free again when it
		// restarts after a kill (stableAddr).
		if i < voters {
			c.voters = append(c.voters, fmt.Sprintf("%d@%s", i+1, stableAddr(t)))
		}
		c.kafka = append(c.kafka, stableAddr(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.nodes = make([]*childBroker, size)
	for i := range size {
		c.start(i)
	}
	for _, n := range c.nodes {
		n.waitListening(t, 60*time.Second)
	}
	c.waitLive()
	return c
}

// waitLive waits until the metadata lists every node as a live broker.
func (c *procCluster) waitLive() {
	c.t.Helper()
	adm := kadm.NewClient(c.client())
	waitFor(c.t, fmt.Sprintf("all %d brokers to be live", len(c.nodes)), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == len(c.nodes)
	})
}

func (c *procCluster) start(i int) {
	args := serveArgs(c.dirs[i], c.kafka[i], "--node-id", fmt.Sprint(i+1), "--voters", strings.Join(c.voters, ","))
	if i < len(c.voters) {
		args = append(args, "--controller-addr", strings.SplitN(c.voters[i], "@", 2)[1])
	}
	for _, s := range c.sets {
		args = append(args, "--set", s)
	}
	if c.nodeArgs != nil {
		args = append(args, c.nodeArgs(i)...)
	}
	c.nodes[i] = spawnChild(c.t, c.kafka[i], exec.Command(eddyBinary(c.t), args...))
}

func (c *procCluster) restart(i int) {
	c.start(i)
	c.nodes[i].waitListening(c.t, 60*time.Second)
}

func (c *procCluster) client(opts ...kgo.Opt) *kgo.Client {
	return newClient(c.t, c.kafka[0], append([]kgo.Opt{kgo.SeedBrokers(c.kafka...)}, opts...)...)
}

// partitionState asks the brokers for topic/p's leader and ISR, taking
// the first broker that answers.
func (c *procCluster) partitionState(adm *kadm.Client, topic string, p int32) (leader int32, isr []int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return -1, nil
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok {
		return -1, nil
	}
	return pd.Leader, pd.ISR
}

// replicas is topic/p's replica set as the metadata names it.
func (c *procCluster) replicas(adm *kadm.Client, topic string, p int32) []int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil
	}
	return md.Topics[topic].Partitions[p].Replicas
}

// waitFullISR waits until every replica of topic/p is in its ISR again.
func (c *procCluster) waitFullISR(adm *kadm.Client, topic string, p int32) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%s-%d's ISR to hold all its replicas", topic, p), func() bool {
		leader, isr := c.partitionState(adm, topic, p)
		replicas := c.replicas(adm, topic, p)
		return leader > 0 && len(replicas) > 0 && len(isr) == len(replicas)
	})
}

// segmentBytes concatenates node i's segment files of topic/p: replicas
// that agree hold the same bytes, whatever their segment boundaries.
func (c *procCluster) segmentBytes(i int, topic string, p int32) []byte {
	dir := filepath.Join(c.dirs[i], "logs", fmt.Sprintf("%s-%d", topic, p))
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(names)
	var out []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil
		}
		out = append(out, b...)
	}
	return out
}

// waitIdenticalReplicas waits until every replica's log of topic/p is
// byte for byte the same.
func (c *procCluster) waitIdenticalReplicas(topic string, p int32) {
	c.t.Helper()
	var replicas []int32
	adm := kadm.NewClient(c.client())
	waitFor(c.t, fmt.Sprintf("the replicas of %s-%d", topic, p), func() bool {
		replicas = c.replicas(adm, topic, p)
		return len(replicas) > 0
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		first := c.segmentBytes(int(replicas[0]-1), topic, p)
		same := len(first) > 0
		var sizes []int
		for _, id := range replicas {
			b := c.segmentBytes(int(id-1), topic, p)
			sizes = append(sizes, len(b))
			same = same && bytes.Equal(b, first)
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the replicas of %s-%d differ after 30 s: %v bytes", topic, p, sizes)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ackedProducer produces "v000001", "v000002", ... one at a time at
// acks=all with an idempotent producer, keeping the values acknowledged.
type ackedProducer struct {
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	acked  []string
	starts []time.Time // when each acknowledged produce was sent
	acks   []time.Time // and answered
	fails  int
}

func startAckedProducer(t *testing.T, cl *kgo.Client) *ackedProducer {
	ap := &ackedProducer{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ap.done)
		for i := 1; ; i++ {
			select {
			case <-ap.stop:
				return
			default:
			}
			v := fmt.Sprintf("v%06d", i)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
			cancel()
			ap.mu.Lock()
			if err == nil {
				ap.acked, ap.starts, ap.acks = append(ap.acked, v), append(ap.starts, start), append(ap.acks, time.Now())
			} else {
				ap.fails++
			}
			ap.mu.Unlock()
		}
	}()
	return ap
}

func (ap *ackedProducer) count() int {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return len(ap.acked)
}

// firstAckAfter is when the first produce sent after t was acknowledged:
// the first successful acks=all write after t.
func (ap *ackedProducer) firstAckAfter(t time.Time) (time.Time, bool) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	i := sort.Search(len(ap.starts), func(i int) bool { return ap.starts[i].After(t) })
	if i == len(ap.starts) {
		return time.Time{}, false
	}
	return ap.acks[i], true
}

func (ap *ackedProducer) finish() []string {
	close(ap.stop)
	<-ap.done
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return slices.Clone(ap.acked)
}

// checkExactlyOnceInOrder reads topic/0 from the start through client
// opts and checks that every acknowledged value is there once, and that
// the log holds the producer's values in order, each at most once.
func checkExactlyOnceInOrder(t *testing.T, c *procCluster, topic string, acked []string) {
	t.Helper()
	last := acked[len(acked)-1]
	cl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []string
	for !slices.Contains(got, last) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records, not up to the last acknowledged %s", len(got), last)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("record %d is %s after %s: duplicated or out of order", i, got[i], got[i-1])
		}
	}
	have := map[string]bool{}
	for _, v := range got {
		have[v] = true
	}
	lost := 0
	for _, v := range acked {
		if !have[v] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, len(acked))
	}
	t.Logf("%d acknowledged records, %d in the log, none lost, none duplicated", len(acked), len(got))
}

// TestReplicatedLeaderKill9: three processes, a topic with three replicas
// and min.insync.replicas=2, an idempotent producer at acks=all all along.
// Ten times the partition's leader is killed with SIGKILL and restarted;
// a new leader takes over from the ISR, the old one truncates, catches up
// and rejoins. Then every acknowledged record is read back once, in order,
// and the three logs are byte for byte the same.
func TestReplicatedLeaderKill9(t *testing.T) {
	killLoop(t, "the partition leader", func(c *procCluster, adm *kadm.Client) int32 {
		leader, _ := c.partitionState(adm, replicatedTopic, 0)
		return leader
	})
}

// TestQuorumLeaderKill9 is the same with the metadata quorum's leader (the
// controller) killed each time: a new controller is elected, takes over
// the broker sessions and fences the dead node.
func TestQuorumLeaderKill9(t *testing.T) {
	killLoop(t, "the controller", func(c *procCluster, adm *kadm.Client) int32 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx)
		if err != nil {
			return -1
		}
		return md.Controller
	})
}

const replicatedTopic = "replicated"

// killLoop kills the node victim names with SIGKILL and restarts it, ten
// times (three with -short), while an idempotent producer writes at
// acks=all to a topic with three replicas and min.insync.replicas=2; then
// it checks that every acknowledged record is there once, in order, on
// byte-identical replicas, and logs the failover times: from the kill to
// the first acknowledged write sent after it.
func killLoop(t *testing.T, what string, victim func(*procCluster, *kadm.Client) int32) {
	kills := 10
	if testing.Short() {
		kills = 3
	}
	c := newProcCluster(t, 3)
	adm := kadm.NewClient(c.client())
	createTopicRF(t, adm, replicatedTopic, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	c.waitFullISR(adm, replicatedTopic, 0)
	// A client that looks for the new leader soon after an error, as
	// Kafka's Java client does (retry.backoff.ms 100): franz-go's default
	// waits 5 s between metadata refreshes, which would measure the
	// client, not the failover.
	ap := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(replicatedTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })))
	var failovers []time.Duration
	for k := range kills {
		before := ap.count()
		waitFor(t, "the producer to make progress", func() bool { return ap.count() > before+20 })
		id := victim(c, adm)
		if id < 1 {
			t.Fatalf("kill %d: cannot tell %s", k+1, what)
		}
		killed := time.Now()
		c.nodes[id-1].kill()
		waitFor(t, "an acknowledged write after the kill", func() bool { _, ok := ap.firstAckAfter(killed); return ok })
		first, _ := ap.firstAckAfter(killed)
		failovers = append(failovers, first.Sub(killed))
		c.restart(int(id - 1))
		c.waitLive()
		c.waitFullISR(adm, replicatedTopic, 0)
	}
	acked := ap.finish()
	t.Logf("kills of %s, failover to the first acknowledged write, in order: %v", what, failovers)
	slices.Sort(failovers)
	t.Logf("%d kills of %s; failover: p50 %v, max %v", kills, what, failovers[len(failovers)/2], failovers[len(failovers)-1])
	checkExactlyOnceInOrder(t, c, replicatedTopic, acked)
	c.waitIdenticalReplicas(replicatedTopic, 0)
}

// TestGroupCoordinatorFailover: the coordinator of a consumer group is
// killed with SIGKILL while the group's consumer runs, after it committed;
// the leadership of its __consumer_offsets partition moves, the new
// coordinator answers the same committed offsets, and the consumer carries
// on through it: nothing below its commits is read again, the rest is read
// and committed.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := newProcCluster(t, 3)
	adm := kadm.NewClient(c.client())
	const topic, group, total = "orders", "billing", 600
	createTopicRF(t, adm, topic, 3, 3, nil)
	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range total {
		if err := prod.ProduceSync(testContext(t), &kgo.Record{Value: fmt.Appendf(nil, "r%04d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The consumer reads about half and commits what it read.
	cons := c.client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	seen := map[string]bool{}
	poll := func() kgo.Fetches {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		fs := cons.PollRecords(ctx, 50)
		if ctx.Err() != nil {
			t.Fatalf("the consumer is stuck at %d of %d records", len(seen), total)
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("committing: %v", err)
		}
		return fs
	}
	for len(seen) < total/2 {
		poll().EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	before := fetchOffsets(t, c, group)

	coords := adm.FindGroupCoordinators(testContext(t), group)
	coord, ok := coords[group]
	if !ok || coord.Err != nil {
		t.Fatalf("finding the coordinator of %s: %+v", group, coords)
	}
	c.nodes[coord.NodeID-1].kill()
	t.Logf("killed coordinator %d with %d of %d records consumed", coord.NodeID, len(seen), total)

	after := fetchOffsets(t, c, group)
	for tp, o := range before.Offsets() {
		for p, want := range o {
			if got, _ := after.Lookup(tp, p); got.At != want.At {
				t.Errorf("%s-%d: committed offset %d before the kill, %d after", tp, p, want.At, got.At)
			}
		}
	}
	for len(seen) < total {
		poll().EachRecord(func(r *kgo.Record) {
			if want, _ := before.Lookup(r.Topic, r.Partition); r.Offset < want.At {
				t.Errorf("%s-%d offset %d read again below the committed %d", r.Topic, r.Partition, r.Offset, want.At)
			}
			seen[string(r.Value)] = true
		})
	}
	final := fetchOffsets(t, c, group)
	ends, err := kadm.NewClient(c.client()).ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got, _ := final.Lookup(o.Topic, o.Partition); got.At != o.Offset {
			t.Errorf("%s-%d: committed %d at the end, the partition ends at %d", o.Topic, o.Partition, got.At, o.Offset)
		}
	})
}

// fetchOffsets asks the cluster for group's committed offsets until a
// coordinator answers. Each try is a new admin client: franz-go's sharded
// OffsetFetch keeps a coordinator it cannot dial cached (its group
// consumers re-resolve; kadm does not).
func fetchOffsets(t *testing.T, c *procCluster, group string) kadm.OffsetResponses {
	t.Helper()
	var out kadm.OffsetResponses
	waitFor(t, "the committed offsets of "+group, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...))
		if err != nil {
			return false
		}
		defer cl.Close()
		out, err = kadm.NewClient(cl).FetchOffsets(ctx, group)
		return err == nil && out.Error() == nil
	})
	return out
}

// TestClusterWithoutMajority: two of three nodes are killed. The survivor
// refuses metadata changes with a clear error once the quorum does not
// confirm them (REQUEST_TIMED_OUT, not a hang), acknowledges no acks=all
// write (its ISR cannot shrink without the quorum), and keeps serving the
// records it has that were committed.
func TestClusterWithoutMajority(t *testing.T) {
	c := newProcCluster(t, 3)
	adm := kadm.NewClient(c.client())
	const topic = "lonely"
	createTopicRF(t, adm, topic, 1, 3, nil)
	c.waitFullISR(adm, topic, 0)
	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 100 {
		if err := prod.ProduceSync(testContext(t), &kgo.Record{Value: fmt.Appendf(nil, "v%03d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader, _ := c.partitionState(adm, topic, 0)
	for i := range c.nodes {
		if int32(i+1) != leader {
			c.nodes[i].kill()
		}
	}
	survivor := c.kafka[leader-1]

	// Kafka's clients send CreateTopics to the controller Metadata names:
	// none, without a quorum. Sent to the survivor itself, it times out
	// with a clear error instead of hanging.
	start := time.Now()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "impossible", 1, 1
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 30000
	lone := newClient(t, survivor)
	created, err := req.RequestWith(testContext(t), lone.Broker(int(leader)))
	if err != nil || len(created.Topics) != 1 || created.Topics[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("creating a topic without a quorum: %+v, %v; want REQUEST_TIMED_OUT", created, err)
	} else {
		t.Logf("a metadata change without a quorum failed after %v: %s", time.Since(start).Round(time.Second), *created.Topics[0].ErrorMessage)
	}

	cons := newClient(t, survivor, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		fs := cons.PollFetches(ctx)
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("the survivor served %d of the 100 committed records", len(got))
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}

	// One raw request: a producing client that got REQUEST_TIMED_OUT for
	// a write that may be in the log retries it until acknowledged (an
	// idempotent kgo producer forever), which is not what this checks.
	if err := produceDirect(namedTopicsClient(t, survivor), topic, "unacknowledgeable", 3*time.Second); err == nil {
		t.Error("an acks=all write was acknowledged by one node of three")
	} else {
		t.Logf("an acks=all write to the survivor: %v", err)
	}
	// The write it could not acknowledge is in its log, above the high
	// watermark: no consumer sees it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		t.Errorf("the survivor served %s at offset %d, above its committed records", r.Value, r.Offset)
	})
}

// TestPreferredLeaderReturns: with auto.leader.rebalance.enable, a restarted
// broker gets back the leadership of the partitions it is the preferred
// replica of once it has caught up and rejoined their ISRs.
func TestPreferredLeaderReturns(t *testing.T) {
	c := newProcCluster(t, 3, "leader.imbalance.check.interval.seconds=1")
	adm := kadm.NewClient(c.client())
	const topic = "preferred"
	createTopicRF(t, adm, topic, 3, 3, nil)
	c.waitFullISR(adm, topic, 0)
	md, err := adm.Metadata(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	preferred := md.Topics[topic].Partitions[0].Replicas[0]
	c.nodes[preferred-1].kill()
	waitFor(t, "a new leader of partition 0", func() bool {
		leader, _ := c.partitionState(adm, topic, 0)
		return leader > 0 && leader != preferred
	})
	c.restart(int(preferred - 1))
	waitFor(t, fmt.Sprintf("broker %d to lead partition 0 again", preferred), func() bool {
		leader, isr := c.partitionState(adm, topic, 0)
		return leader == preferred && len(isr) == 3
	})
}

// TestControlledShutdown: a partition leader sent SIGTERM hands its
// leaderships over before it exits: the moment it is gone, the metadata
// already names another leader (no wait for its session to expire), and
// the producer loses nothing.
func TestControlledShutdown(t *testing.T) {
	c := newProcCluster(t, 3)
	adm := kadm.NewClient(c.client())
	createTopicRF(t, adm, replicatedTopic, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	c.waitFullISR(adm, replicatedTopic, 0)
	ap := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(replicatedTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(100*time.Millisecond)))
	waitFor(t, "the producer to make progress", func() bool { return ap.count() > 20 })
	leader, _ := c.partitionState(adm, replicatedTopic, 0)
	child := c.nodes[leader-1]
	if err := child.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.cmd.Wait(); err != nil {
		t.Fatalf("node %d after SIGTERM: %v", leader, err)
	}
	// Each remaining node is asked with a new client: franz-go answers a
	// Metadata request from its cache when it has a recent one.
	for i := range c.kafka {
		if int32(i+1) == leader {
			continue
		}
		md, err := newAdmin(t, c.kafka[i]).Metadata(testContext(t), replicatedTopic)
		if err != nil {
			t.Fatal(err)
		}
		if p := md.Topics[replicatedTopic].Partitions[0]; p.Leader == leader || p.Leader < 1 || slices.Contains(md.Brokers.NodeIDs(), leader) {
			t.Fatalf("node %d exited, and node %d still names leader %d and brokers %v: no controlled shutdown", leader, i+1, p.Leader, md.Brokers.NodeIDs())
		}
	}
	before := ap.count()
	waitFor(t, "the producer to carry on", func() bool { return ap.count() > before+20 })
	c.restart(int(leader - 1))
	c.waitFullISR(adm, replicatedTopic, 0)
	checkExactlyOnceInOrder(t, c, replicatedTopic, ap.finish())
	c.waitIdenticalReplicas(replicatedTopic, 0)
}

// TestObserverKill9: a broker outside --voters leads a partition (three
// replicas, min.insync.replicas=2) under continuous acks=all produce and
// is killed with SIGKILL and restarted, three times: each time the
// partition fails over to a voter, the observer replays its metadata
// (its WAL may have lost an unsynced tail), rejoins the ISR, and nothing
// acknowledged is lost, duplicated or reordered.
func TestObserverKill9(t *testing.T) {
	c := newProcClusterObserved(t, 3, 1)
	adm := kadm.NewClient(c.client())
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = replicatedTopic, -1, -1
	rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{4, 1, 2}}}
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "min.insync.replicas", Value: kadm.StringPtr("2")}}
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10000
	resp, err := req.RequestWith(testContext(t), c.client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("creating %s led by the observer: %v %v", replicatedTopic, err, resp)
	}
	c.waitFullISR(adm, replicatedTopic, 0)
	if leader, _ := c.partitionState(adm, replicatedTopic, 0); leader != 4 {
		t.Fatalf("%s is led by %d, want the observer 4", replicatedTopic, leader)
	}
	ap := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(replicatedTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })))
	for range 3 {
		before := ap.count()
		waitFor(t, "the producer to make progress", func() bool { return ap.count() > before+20 })
		killed := time.Now()
		c.nodes[3].kill()
		waitFor(t, "an acknowledged write after the kill", func() bool { _, ok := ap.firstAckAfter(killed); return ok })
		c.restart(3)
		c.waitLive()
		c.waitFullISR(adm, replicatedTopic, 0)
	}
	checkExactlyOnceInOrder(t, c, replicatedTopic, ap.finish())
	c.waitIdenticalReplicas(replicatedTopic, 0)
}
