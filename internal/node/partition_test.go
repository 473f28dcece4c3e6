package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/netfault"
	"github.com/eddy-streaming/eddy/internal/quorum"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// faultCluster is a procCluster whose nodes reach each other only through
// netfault proxies: each node listens on real ports, while --voters names
// a proxy in front of each quorum listener and each node advertises a
// proxy in front of its Kafka listener, which is where peers (their
// replica fetchers and heartbeats) and clients connect. The proxies tell
// nodes from clients, so cutting a node off leaves the test's clients
// able to reach either side. The Kafka and the quorum proxies form two
// networks, so a fault can hit one plane and not the other.
type faultCluster struct {
	*procCluster // voters and kafka hold the proxies' addresses
	kafkaNet     *netfault.Network
	quorumNet    *netfault.Network
	kafkaReal    []string
	quorumReal   []string
	direct       []*kgo.Client  // to each node alone, through its proxy
	args         []string       // more eddy serve arguments
	started      []*childBroker // every process started, restarts included
}

func newFaultCluster(t *testing.T, size int, args []string, sets ...string) *faultCluster {
	t.Helper()
	c := &faultCluster{procCluster: &procCluster{t: t, sets: append(slices.Clone(clusterTestSettings), sets...)},
		kafkaNet: netfault.NewNetwork(), quorumNet: netfault.NewNetwork(), args: args}
	for i := range size {
		id := int32(i + 1)
		c.kafkaReal, c.quorumReal = append(c.kafkaReal, stableAddr(t)), append(c.quorumReal, stableAddr(t))
		kp, qp := c.proxy(c.kafkaNet, id, c.kafkaReal[i]), c.proxy(c.quorumNet, id, c.quorumReal[i])
		c.voters = append(c.voters, fmt.Sprintf("%d@%s", id, qp.Addr()))
		c.kafka = append(c.kafka, kp.Addr())
		c.dirs = append(c.dirs, t.TempDir())
		c.direct = append(c.direct, newClient(t, kp.Addr()))
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

// stableAddr is a free loopback address below the kernel's ephemeral
// port range. A port freeAddr picks is in that range, where the proxies'
// listeners and every outgoing connection take theirs: with six proxies
// and dozens of connections, one of them took a node's port before the
// node bound it, or between a kill and a restart.
func stableAddr(t *testing.T) string {
	t.Helper()
	low := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	for range 100 {
		port := 1024 + rand.IntN(low-1024)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port below %d", low)
	return ""
}

// proxy starts a proxy in front of node id's listener at target; the
// cleanups run after the nodes' (registered later) have killed them.
func (c *faultCluster) proxy(nw *netfault.Network, id int32, target string) *netfault.Proxy {
	p, err := nw.Listen(id, target)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { p.Close() })
	return p
}

// waitUp waits until node i listens, and fails with its log's end if a
// process exited instead.
func (c *faultCluster) waitUp(i int) {
	c.t.Helper()
	n := c.nodes[i]
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.Dial("tcp", n.addr); err == nil {
			conn.Close()
			return
		}
		c.failIfExited()
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d did not listen within 60 s", i+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// failIfExited fails the test if a node's process exited on its own (the
// test kills by SIGKILL and restarts at once), showing its log's end.
func (c *faultCluster) failIfExited() {
	c.t.Helper()
	for i, n := range c.nodes {
		if n.cmd.ProcessState == nil && exited(n.cmd.Process.Pid) { // not one the test killed
			log := n.log.String()
			c.t.Fatalf("node %d exited; its log ends:\n%s", i+1, log[max(0, len(log)-2000):])
		}
	}
}

// exited reports whether process pid has exited: it is a zombie, as no
// one waits for a child until the test kills it.
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	_, rest, ok := strings.Cut(string(b), ") ")
	return !ok || strings.HasPrefix(rest, "Z")
}

// plane is which links of the nodes a fault hits: their Kafka links
// (replica fetches, heartbeats to the controller), their quorum links
// (the metadata's raft), or both.
type plane int

const (
	allPlanes plane = iota
	kafkaPlane
	quorumPlane
)

func (p plane) String() string { return [...]string{"all", "kafka", "quorum"}[p] }

// nets are the networks that carry plane p.
func (c *faultCluster) nets(p plane) []*netfault.Network {
	switch p {
	case kafkaPlane:
		return []*netfault.Network{c.kafkaNet}
	case quorumPlane:
		return []*netfault.Network{c.quorumNet}
	}
	return []*netfault.Network{c.kafkaNet, c.quorumNet}
}

// isolate sets the mode of every link of node id on plane p.
func (c *faultCluster) isolate(id int32, p plane, m netfault.Mode) {
	for _, nw := range c.nets(p) {
		nw.Isolate(id, m)
	}
}

func (c *faultCluster) healAll() {
	for _, nw := range c.nets(allPlanes) {
		nw.HealAll()
	}
}

// start spawns node i without waiting: it listens once a quorum forms.
func (c *faultCluster) start(i int) {
	args := serveArgs(c.dirs[i], c.kafkaReal[i], "--node-id", fmt.Sprint(i+1),
		"--controller-addr", c.quorumReal[i], "--advertise-addr", c.kafka[i], "--voters", strings.Join(c.voters, ","))
	for _, s := range c.sets {
		args = append(args, "--set", s)
	}
	args = append(args, c.args...)
	c.nodes[i] = spawnChild(c.t, c.kafkaReal[i], exec.Command(eddyBinary(c.t), args...))
	c.started = append(c.started, c.nodes[i])
}

// partitionView is one node's own answer about a partition.
type partitionView struct {
	node, leader, epoch, controller int32
	isr                             []int32
	err                             error
}

func (v partitionView) String() string {
	if v.err != nil {
		return fmt.Sprintf("node %d: %v", v.node, v.err)
	}
	return fmt.Sprintf("node %d: leader %d epoch %d isr %v controller %d", v.node, v.leader, v.epoch, v.isr, v.controller)
}

// viewOf asks node i alone for topic/p's leader, epoch and ISR.
func (c *faultCluster) viewOf(i int, topic string, p int32) partitionView {
	v := partitionView{node: int32(i + 1), leader: -1}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	raw, err := c.direct[i].SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		v.err = err
		return v
	}
	resp := raw.(*kmsg.MetadataResponse)
	v.controller = resp.ControllerID
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			if t.Topic != nil && *t.Topic == topic && pp.Partition == p {
				v.leader, v.epoch, v.isr, v.err = pp.Leader, pp.LeaderEpoch, slices.Sorted(slices.Values(pp.ISR)), kerr.ErrorForCode(pp.ErrorCode)
				return v
			}
		}
	}
	v.err = fmt.Errorf("%s-%d not in the metadata", topic, p)
	return v
}

// waitAgreed waits until every node names the same leader and epoch for
// topic/p with all replicas in the ISR: a node cut off still answers
// with what it last knew, so asking any one of them proves nothing.
func (c *faultCluster) waitAgreed(topic string, p int32) partitionView {
	c.t.Helper()
	var views []partitionView
	deadline := time.Now().Add(60 * time.Second)
	for {
		views = views[:0]
		agreed := true
		for i := range c.nodes {
			v := c.viewOf(i, topic, p)
			views = append(views, v)
			agreed = agreed && v.err == nil && v.leader > 0 && len(v.isr) == len(c.nodes) &&
				v.leader == views[0].leader && v.epoch == views[0].epoch
		}
		if agreed {
			return views[0]
		}
		c.failIfExited()
		if time.Now().After(deadline) {
			c.t.Fatalf("the nodes do not agree on %s-%d with a full ISR after 60 s: %v", topic, p, views)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createReplicated creates topic with one partition on every node and
// min.insync.replicas=2, and waits until the nodes agree on its leader.
func (c *faultCluster) createReplicated(topic string) partitionView {
	c.t.Helper()
	createTopicRF(c.t, kadm.NewClient(c.client()), topic, 1, int16(len(c.nodes)),
		map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	return c.waitAgreed(topic, 0)
}

// produceDirect sends one acks=all record holding value to partition 0
// of topic on the one broker cl is seeded with, whichever broker leads,
// and returns the partition's error or the request's.
func produceDirect(cl *kgo.Client, topic, value string, timeout time.Duration) error {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordtest.Batch(recordtest.Options{BaseTimestamp: time.Now().UnixMilli()},
		[]record.Record{{Value: []byte(value)}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	raw, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(raw.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode)
}

// minorityWriter keeps writing to one node through a client connected to
// it alone, counting what it acknowledged and how the rest failed.
type minorityWriter struct {
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	sent     int
	acked    []string
	failures map[string]int // by error
}

func startMinorityWriter(cl *kgo.Client, topic string) *minorityWriter {
	w := &minorityWriter{stop: make(chan struct{}), done: make(chan struct{}), failures: map[string]int{}}
	go func() {
		defer close(w.done)
		for i := 1; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			v := fmt.Sprintf("minority-%06d", i)
			err := produceDirect(cl, topic, v, 2*time.Second)
			w.mu.Lock()
			w.sent++
			if err == nil {
				w.acked = append(w.acked, v)
			} else {
				w.failures[failureKind(err)]++
			}
			w.mu.Unlock()
			if _, isKafka := err.(*kerr.Error); err != nil && !isKafka {
				time.Sleep(200 * time.Millisecond) // a refused connection fails at once
			}
		}
	}()
	return w
}

// failureKind names an error without its addresses and timings.
func failureKind(err error) string {
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Message
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "connection error"
}

func (w *minorityWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

func (w *minorityWriter) finish() (sent int, acked []string, failures map[string]int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent, w.acked, w.failures
}

// TestPartitionedLeaderIsDeposed cuts the leader of a partition (three
// replicas, min.insync.replicas=2) off from the other two nodes, on its
// quorum links and its Kafka links, while an acks=all producer runs. The
// majority elects a new leader and goes on acknowledging; the old leader,
// which still believes it leads, acknowledges none of the writes a client
// connected only to it sends after the cut. After healing, every
// acknowledged record is there once and in order, none of the old
// leader's unacknowledged writes is, and the three logs are byte for byte
// the same.
func TestPartitionedLeaderIsDeposed(t *testing.T) {
	c := newFaultCluster(t, 3, nil)
	const topic = "partitioned"
	before := c.createReplicated(topic)
	old := int(before.leader - 1)
	toOld := namedTopicsClient(t, c.kafka[old])
	// The control: the old leader acknowledges this kind of write while
	// connected, so its silence later is the cut's doing. v000000 sorts
	// before the producer's values, as checkExactlyOnceInOrder wants.
	// The leader may answer a retriable error for a moment after the
	// nodes agree on it (its replica is made just after it applies the
	// metadata); a client retries those.
	deadline := time.Now().Add(10 * time.Second)
	err := produceDirect(toOld, topic, "v000000", 10*time.Second)
	for ; err != nil && kerr.IsRetriable(err) && time.Now().Before(deadline); err = produceDirect(toOld, topic, "v000000", 10*time.Second) {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("a write to the leader before the cut: %v", err)
	}
	// Clients still reach the cut-off leader, which believes it leads: a
	// short produce timeout and quick metadata refreshes let the producer
	// leave it for the majority's leader within the wait below, as the
	// chaos producer does.
	ap := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ProduceRequestTimeout(2*time.Second)))
	waitFor(t, "the producer to make progress", func() bool { return ap.count() > 20 })

	cut := time.Now()
	c.isolate(before.leader, allPlanes, netfault.Cut)
	t.Logf("cut node %d off: before the cut %v", before.leader, before)
	minority := startMinorityWriter(toOld, topic)

	after := c.waitMajorityLeader(topic, old, before)
	t.Logf("the majority elected node %d (epoch %d) %v after the cut", after.leader, after.epoch, time.Since(cut).Round(time.Millisecond))
	waitFor(t, "an acknowledged write after the cut", func() bool { _, ok := ap.firstAckAfter(cut); return ok })
	acks := ap.count()
	waitFor(t, "the producer to make progress on the majority", func() bool { return ap.count() > acks+50 })
	// The old leader's quorum member is cut off too, so its metadata stays
	// as it was: it still believes it leads, which is what makes its
	// refusal to acknowledge meaningful.
	if v := c.viewOf(old, topic, 0); v.err != nil || v.leader != before.leader || v.epoch != before.epoch {
		t.Fatalf("the old leader learned of the new one while cut off (%v): its quorum links were not cut", v)
	}
	// Give the old leader time to shrink its ISR to itself (over
	// replica.lag.time.max.ms), as a leader that could not reach the
	// controller must not, while it is still written to.
	lag := 2 * time.Second
	writes := minority.count()
	waitFor(t, "the old leader to be written to for three lag times", func() bool {
		return time.Since(cut) > 3*lag && minority.count() > writes+2
	})
	sent, acked, failures := minority.finish()
	t.Logf("writes to the old leader after the cut: %d sent, %d acknowledged, failures %v", sent, len(acked), failures)
	if len(acked) > 0 {
		t.Fatalf("split brain: the cut-off old leader acknowledged %d acks=all writes (%v...) while node %d led", len(acked), acked[:min(3, len(acked))], after.leader)
	}
	// Waiting for followers that never come, or knowing too few are in
	// sync, or that it no longer leads: any other answer is a bug.
	expected := []string{"timeout", kerr.RequestTimedOut.Message, kerr.NotEnoughReplicas.Message,
		kerr.NotEnoughReplicasAfterAppend.Message, kerr.NotLeaderForPartition.Message}
	for kind := range failures {
		if !slices.Contains(expected, kind) {
			t.Errorf("the cut-off old leader answered %d writes with %s", failures[kind], kind)
		}
	}
	tail := bytes.Count(c.segmentBytes(old, topic, 0), []byte("minority-"))
	t.Logf("the old leader appended %d unacknowledged writes to its log while cut off", tail)

	c.healAll()
	healed := time.Now()
	final := c.waitAgreed(topic, 0)
	t.Logf("after healing, %v; full ISR agreed %v after healing", final, time.Since(healed).Round(time.Millisecond))
	acks = ap.count()
	waitFor(t, "the producer to make progress after healing", func() bool { return ap.count() > acks+20 })
	checkExactlyOnceInOrder(t, c.procCluster, topic, ap.finish())
	c.waitIdenticalReplicas(topic, 0)
	for i := range c.nodes {
		if n := bytes.Count(c.segmentBytes(i, topic, 0), []byte("minority-")); n > 0 {
			t.Errorf("node %d's log holds %d writes only the cut-off leader took", i+1, n)
		}
	}
}

// waitMajorityLeader waits until the nodes other than old agree on a new
// leader, not old, in a later epoch than before.
func (c *faultCluster) waitMajorityLeader(topic string, old int, before partitionView) partitionView {
	c.t.Helper()
	var views []partitionView
	deadline := time.Now().Add(30 * time.Second)
	for {
		views = views[:0]
		for i := range c.nodes {
			if i != old {
				views = append(views, c.viewOf(i, topic, 0))
			}
		}
		agreed := true
		for _, v := range views {
			agreed = agreed && v.err == nil && v.leader > 0 && v.leader != before.leader && v.epoch > before.epoch &&
				v.leader == views[0].leader && v.epoch == views[0].epoch
		}
		if agreed {
			return views[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the majority elected no new leader of %s-0 within 30 s: %v", topic, views)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSenderOfQuorumHello checks that netfault reads the quorum
// transport's real hello as the node that sent it: raft id 3 is node 2
// (node.raftID is the node id plus one).
func TestSenderOfQuorumHello(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := quorum.NewTCPTransport(quorum.TCPConfig{ID: 3, ClusterID: "cluster", Listener: own,
		Peers: map[uint64]string{2: peer.Addr().String()}})
	defer tr.Close()
	conn, err := peer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var buf []byte
	for {
		if id, complete := netfault.Sender(buf); complete {
			if id != 2 {
				t.Fatalf("the hello of raft id 3 reads as node %d", id)
			}
			return
		}
		b := make([]byte, 64)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("reading the hello: %v (after %d bytes)", err, len(buf))
		}
		buf = append(buf, b[:n]...)
	}
}
