package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupSettings make rebalances quick: no initial delay, short sessions.
var groupSettings = map[string]string{"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}

// childGroupArgs pass groupSettings to a child broker.
var childGroupArgs = []string{"--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=1000"}

// member is one consumer of a group, polling in the background and
// tracking what it is assigned and what it has consumed.
type member struct {
	name     string
	cl       *kgo.Client
	mu       sync.Mutex
	assigned map[int32]bool
	revoked  [][]int32 // each revocation, as it happened
	records  []*kgo.Record
	stop     context.CancelFunc
	done     chan struct{}
}

func startMember(t *testing.T, addr, groupID, topic, name string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, assigned: map[int32]bool{}, done: make(chan struct{})}
	all := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(groupID),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.ClientID(name),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.revoked = append(m.revoked, append([]int32(nil), r[topic]...))
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.assigned, p)
			}
		}),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			m.mu.Lock()
			m.records = append(m.records, fs.Records()...)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.leave)
	return m
}

// leave stops polling and closes the client, which leaves the group.
func (m *member) leave() {
	if m.stop == nil {
		return
	}
	m.stop()
	<-m.done
	m.cl.Close()
	m.stop = nil
}

func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.assigned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// waitSplit waits until the members hold disjoint assignments covering
// all n partitions, each with the given count.
func waitSplit(t *testing.T, n int, counts []int, members ...*member) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d partitions split %v", n, counts), func() bool {
		seen := map[int32]bool{}
		for i, m := range members {
			ps := m.partitions()
			if len(ps) != counts[i] {
				return false
			}
			for _, p := range ps {
				if seen[p] {
					return false
				}
				seen[p] = true
			}
		}
		return len(seen) == n
	})
}

// TestGroupSplitsAndRebalances runs three members over six partitions with
// each client-side assignor: they split 2/2/2; one leaves and the other two
// take 3/3; it comes back and they return to 2/2/2.
func TestGroupSplitsAndRebalances(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "six", 6, nil)
	for name, balancer := range map[string]kgo.GroupBalancer{
		"range": kgo.RangeBalancer(), "roundrobin": kgo.RoundRobinBalancer(),
		"sticky": kgo.StickyBalancer(), "cooperative-sticky": kgo.CooperativeStickyBalancer(),
	} {
		t.Run(name, func(t *testing.T) {
			g := "split-" + name
			opt := kgo.Balancers(balancer)
			a := startMember(t, tn.KafkaAddr(), g, "six", "a", opt)
			b := startMember(t, tn.KafkaAddr(), g, "six", "b", opt)
			c := startMember(t, tn.KafkaAddr(), g, "six", "c", opt)
			waitSplit(t, 6, []int{2, 2, 2}, a, b, c)
			c.leave()
			waitSplit(t, 6, []int{3, 3}, a, b)
			c = startMember(t, tn.KafkaAddr(), g, "six", "c2", opt)
			waitSplit(t, 6, []int{2, 2, 2}, a, b, c)
		})
	}
}

// TestCooperativeRebalanceKeepsUnaffectedPartitions checks KIP-429: when a
// member joins a cooperative-sticky group, existing members give up only
// the partitions that move, never their whole assignment.
func TestCooperativeRebalanceKeepsUnaffectedPartitions(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "coop", 6, nil)
	opt := kgo.Balancers(kgo.CooperativeStickyBalancer())
	a := startMember(t, tn.KafkaAddr(), "coop", "coop", "a", opt)
	b := startMember(t, tn.KafkaAddr(), "coop", "coop", "b", opt)
	waitSplit(t, 6, []int{3, 3}, a, b)
	before := map[string][]int32{"a": a.partitions(), "b": b.partitions()}
	revokedBefore := map[string]int{}
	for _, m := range []*member{a, b} {
		m.mu.Lock()
		revokedBefore[m.name] = len(m.revoked)
		m.mu.Unlock()
	}
	c := startMember(t, tn.KafkaAddr(), "coop", "coop", "c", opt)
	waitSplit(t, 6, []int{2, 2, 2}, a, b, c)
	for _, m := range []*member{a, b} {
		m.mu.Lock()
		for _, r := range m.revoked[revokedBefore[m.name]:] {
			if len(r) >= len(before[m.name]) {
				t.Errorf("%s had all of %v revoked (%v); cooperative rebalances revoke only what moves", m.name, before[m.name], r)
			}
		}
		m.mu.Unlock()
		kept := 0
		for _, p := range m.partitions() {
			for _, q := range before[m.name] {
				if p == q {
					kept++
				}
			}
		}
		if kept != 2 {
			t.Errorf("%s kept %d of its partitions %v, now %v", m.name, kept, before[m.name], m.partitions())
		}
	}
}

// TestDeadMemberExpires cuts a member off from the broker, as a crash
// would: its session expires and the others take its partitions.
func TestDeadMemberExpires(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "expire", 4, nil)
	d := &severableDialer{}
	a := startMember(t, tn.KafkaAddr(), "expire", "expire", "a")
	b := startMember(t, tn.KafkaAddr(), "expire", "expire", "b", kgo.Dialer(d.DialContext))
	waitSplit(t, 4, []int{2, 2}, a, b)
	d.sever() // b can no longer heartbeat, and never leaves
	waitFor(t, "a to take over after b's session expires", func() bool { return len(a.partitions()) == 4 })
}

// TestStaticMemberRejoinKeepsAssignment checks KIP-345: a static member
// that restarts within its session timeout gets its old partitions back
// without the group rebalancing the others.
func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "static", 4, nil)
	a := startMember(t, tn.KafkaAddr(), "static", "static", "a", kgo.InstanceID("a"), kgo.SessionTimeout(10*time.Second))
	b := startMember(t, tn.KafkaAddr(), "static", "static", "b", kgo.InstanceID("b"), kgo.SessionTimeout(10*time.Second))
	waitSplit(t, 4, []int{2, 2}, a, b)
	bWas := b.partitions()
	a.mu.Lock()
	aRevokes := len(a.revoked)
	a.mu.Unlock()
	b.leave() // a static member does not send LeaveGroup on close
	b = startMember(t, tn.KafkaAddr(), "static", "static", "b-restarted", kgo.InstanceID("b"), kgo.SessionTimeout(10*time.Second))
	waitSplit(t, 4, []int{2, 2}, a, b)
	if got := b.partitions(); fmt.Sprint(got) != fmt.Sprint(bWas) {
		t.Fatalf("restarted static member got %v, had %v", got, bWas)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.revoked) != aRevokes {
		t.Fatalf("the other member was rebalanced when a static member rejoined")
	}
}

// TestGroupConsumesEveryRecordOnce runs members that join and leave while
// records flow; with commits after processing and no failures, every
// record is consumed exactly once across the group's life.
func TestGroupConsumesEveryRecordOnce(t *testing.T) {
	tn := startNode(t, "", groupSettings)
	consumeOnceAcrossLife(t, tn.KafkaAddr(), "once",
		kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(200*time.Millisecond))
}

// consumeOnceAcrossLife produces 3,000 records to a new 6-partition topic
// while four members of group topic come and go (two leave early),
// committing after processing; every record must be consumed exactly once.
func consumeOnceAcrossLife(t *testing.T, addr, topic string, memberOpts ...kgo.Opt) {
	t.Helper()
	createTopic(t, newAdmin(t, addr), topic, 6, nil)
	const n = 3000
	prod := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range n {
			prod.Produce(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint(i % 50)), Value: []byte(fmt.Sprint(i))}, nil)
			if i%500 == 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		prod.Flush(context.Background())
	}()
	var mu sync.Mutex
	seen := map[string]int{}
	var total atomic.Int64
	consume := func(name string, stopAfter time.Duration) {
		opts := append([]kgo.Opt{kgo.ConsumerGroup(topic), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.ClientID(name)}, memberOpts...)
		cl := newClient(t, addr, opts...)
		deadline := time.Now().Add(stopAfter)
		for time.Now().Before(deadline) && total.Load() < n {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			recs := fs.Records()
			mu.Lock()
			for _, r := range recs {
				seen[string(r.Value)]++
			}
			mu.Unlock()
			total.Add(int64(len(recs)))
			if err := cl.CommitRecords(context.Background(), recs...); err != nil {
				t.Errorf("%s: commit: %v", name, err)
			}
			cl.AllowRebalance()
		}
		cl.Close() // leaves the group after its last commit
	}
	var wg sync.WaitGroup
	for i, life := range []time.Duration{2 * time.Second, 4 * time.Second, 60 * time.Second, 60 * time.Second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 700 * time.Millisecond)
			consume(fmt.Sprintf("m%d", i), life)
		}()
	}
	<-produced
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Fatalf("record %d consumed %d times", i, c)
		}
	}
}

// TestCommittedOffsetsSurviveKill9 commits offsets through a child broker,
// kills it with SIGKILL, restarts it, and checks the group resumes there.
func TestCommittedOffsetsSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	cb := startChild(t, dir, childGroupArgs...)
	createTopic(t, newAdmin(t, cb.addr), "resume", 2, nil)
	produceNumbered(t, newClient(t, cb.addr, kgo.DefaultProduceTopic("resume")), "resume", 100)
	adm := newAdmin(t, cb.addr)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "resume", Partition: 0, At: 7, LeaderEpoch: -1, Metadata: "seven"})
	offsets.Add(kadm.Offset{Topic: "resume", Partition: 1, At: 11, LeaderEpoch: -1})
	res, err := adm.CommitOffsets(testContext(t), "resumers", offsets)
	if err != nil || res.Error() != nil {
		t.Fatalf("commit: %v %v", err, res.Error())
	}
	cb.kill()

	again := startChild(t, dir, childGroupArgs...)
	fetched, err := newAdmin(t, again.addr).FetchOffsets(testContext(t), "resumers")
	if err != nil || fetched.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, fetched.Error())
	}
	if o, _ := fetched.Lookup("resume", 0); o.At != 7 || o.Metadata != "seven" {
		t.Fatalf("partition 0 offset after kill -9: %+v", o)
	}
	if o, _ := fetched.Lookup("resume", 1); o.At != 11 {
		t.Fatalf("partition 1 offset after kill -9: %+v", o)
	}
	// A consumer of the group starts from the commits.
	m := startMember(t, again.addr, "resumers", "resume", "r")
	waitFor(t, "the resumed consumer to read from the commits", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.records) == 100-7-11
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.records {
		if (r.Partition == 0 && r.Offset < 7) || (r.Partition == 1 && r.Offset < 11) {
			t.Fatalf("consumed %d/%d, before the committed offset", r.Partition, r.Offset)
		}
	}
}

// severableDialer dials normally until sever, after which it closes every
// connection it made and refuses new ones: a crashed client, as the broker
// sees it.
type severableDialer struct {
	mu      sync.Mutex
	conns   []net.Conn
	severed bool
}

func (d *severableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.severed {
		return nil, errors.New("severed")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *severableDialer) sever() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.severed = true
	for _, c := range d.conns {
		c.Close()
	}
}
