package node_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/netfault"
)

// Chaos runs: EDDY_CHAOS_SEEDS=N runs N new seeds (default 1 with -short,
// 2 otherwise); EDDY_CHAOS_SEED=S[,S...] replays the schedules of the
// seeds a failed run logged. A replay draws the same faults, targets and
// durations; the cluster's timing around them differs from run to run.
func chaosSeeds(t *testing.T) []uint64 {
	if v := os.Getenv("EDDY_CHAOS_SEED"); v != "" {
		var seeds []uint64
		for _, s := range strings.Split(v, ",") {
			seed, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				t.Fatalf("EDDY_CHAOS_SEED=%q: %v", v, err)
			}
			seeds = append(seeds, seed)
		}
		return seeds
	}
	n := 2
	if testing.Short() {
		n = 1
	}
	if v := os.Getenv("EDDY_CHAOS_SEEDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("EDDY_CHAOS_SEEDS=%q: want a number of seeds", v)
		}
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = rand.Uint64() >> 1 // positive as an int64 too, for tools that read it so
	}
	return seeds
}

// faultKind is one kind of fault the schedule injects.
type faultKind int

const (
	faultKill      faultKind = iota // kill -9, restarted when the step heals
	faultPause                      // SIGSTOP, SIGCONT when the step heals
	faultIsolate                    // cut every link of the node
	faultCutLink                    // cut the link between two nodes
	faultStallLink                  // hold the bytes of the link between two nodes
	faultOneWay                     // cut what one node dials to another
	numFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"kill -9", "pause", "isolate", "cut link", "stall link", "cut one way"}[k]
}

// Targets other than a node index: resolved when the fault starts.
const (
	targetLeader     = -1 // the partition's leader
	targetController = -2 // the metadata quorum's leader
)

type chaosFault struct {
	kind   faultKind
	target int   // a node index or a target above
	peer   int   // for links: the other end is this many nodes after target
	plane  plane // for links
}

// chaosStep is faults started together, held, then healed together.
type chaosStep struct {
	faults []chaosFault
	hold   time.Duration
	rest   time.Duration // after healing, before the next step
	settle bool          // wait for a full ISR before the next step
}

func targetName(i int) string {
	switch i {
	case targetLeader:
		return "leader"
	case targetController:
		return "controller"
	}
	return fmt.Sprintf("node %d", i+1)
}

func (s chaosStep) String() string {
	var fs []string
	for _, f := range s.faults {
		name := fmt.Sprintf("%v %s", f.kind, targetName(f.target))
		switch f.kind {
		case faultCutLink, faultStallLink:
			name += fmt.Sprintf(" and the node %d after it", f.peer)
		case faultOneWay:
			name += fmt.Sprintf(" to the node %d after it", f.peer)
		}
		if f.kind >= faultIsolate && f.plane != allPlanes {
			name += fmt.Sprintf(" (%v only)", f.plane)
		}
		fs = append(fs, name)
	}
	return fmt.Sprintf("%s for %v, rest %v, settle %v", strings.Join(fs, " + "), s.hold, s.rest, s.settle)
}

// chaosSchedule draws steps faults from seed: most target a named node,
// a third the partition's leader or the controller, where faults hurt
// most; one step in four holds two faults at once.
func chaosSchedule(seed uint64, steps, size int) []chaosStep {
	r := rand.New(rand.NewPCG(seed, 0x45444459))
	target := func() int {
		switch r.IntN(6) {
		case 0:
			return targetLeader
		case 1:
			return targetController
		}
		return r.IntN(size)
	}
	out := make([]chaosStep, steps)
	for i := range out {
		s := &out[i]
		n := 1
		if r.IntN(4) == 0 {
			n = 2
		}
		for range n {
			f := chaosFault{kind: faultKind(r.IntN(int(numFaultKinds))), target: target()}
			f.peer = 1 + r.IntN(size-1)
			f.plane = allPlanes
			if p := r.IntN(4); p >= 2 { // half the link faults hit one plane only
				f.plane = plane(p - 1)
			}
			s.faults = append(s.faults, f)
		}
		s.hold = time.Duration(300+r.IntN(3700)) * time.Millisecond
		s.rest = time.Duration(r.IntN(2000)) * time.Millisecond
		s.settle = r.IntN(3) == 0
	}
	return out
}

// chaosRun is one seed's cluster and the faults in force.
type chaosRun struct {
	t      *testing.T
	c      *faultCluster
	topic  string
	start  time.Time
	killed map[int]bool
	paused map[int]bool
}

func (r *chaosRun) logf(format string, args ...any) {
	r.t.Logf("%6.1fs "+format, append([]any{time.Since(r.start).Seconds()}, args...)...)
}

// resolve names the node a target means now; -1 if nobody answers.
func (r *chaosRun) resolve(target int) int {
	if target >= 0 {
		return target
	}
	for i := range r.c.nodes {
		if r.killed[i] || r.paused[i] {
			continue
		}
		v := r.c.viewOf(i, r.topic, 0)
		if v.err != nil {
			continue
		}
		if target == targetLeader && v.leader > 0 {
			return int(v.leader - 1)
		}
		if target == targetController && v.controller >= 0 {
			return int(v.controller - 1)
		}
	}
	return -1
}

// inject starts f and returns what heals it, nil if it could not start.
func (r *chaosRun) inject(f chaosFault) func() {
	n := r.resolve(f.target)
	if n < 0 {
		r.logf("%v %s: no such node now, skipped", f.kind, targetName(f.target))
		return nil
	}
	id := int32(n + 1)
	switch f.kind {
	case faultKill, faultPause:
		if r.killed[n] || r.paused[n] {
			r.logf("%v node %d: already down, skipped", f.kind, id)
			return nil
		}
		return r.signal(n, f.kind)
	case faultIsolate:
		r.logf("isolate node %d (%v links)", id, f.plane)
		r.c.isolate(id, f.plane, netfault.Cut)
		return func() { r.c.isolate(id, f.plane, netfault.Pass) }
	default:
		return r.linkFault(f, id)
	}
}

// linkFault cuts or stalls the link between node id and another on f's
// plane, or cuts what id dials to the other, and returns what heals it.
func (r *chaosRun) linkFault(f chaosFault, id int32) func() {
	peer := int32((int(id)-1+f.peer)%len(r.c.nodes) + 1)
	set, between := func(nw *netfault.Network, m netfault.Mode) { nw.Link(id, peer, m) }, "and"
	if f.kind == faultOneWay {
		set, between = func(nw *netfault.Network, m netfault.Mode) { nw.OneWay(id, peer, m) }, "to"
	}
	mode := netfault.Cut
	if f.kind == faultStallLink {
		mode = netfault.Stall
	}
	apply := func(m netfault.Mode) {
		for _, nw := range r.c.nets(f.plane) {
			set(nw, m)
		}
	}
	r.logf("%v node %d %s node %d (%v links)", f.kind, id, between, peer, f.plane)
	apply(mode)
	return func() { apply(netfault.Pass) }
}

// signal kills or pauses node n and returns what restarts or resumes it.
func (r *chaosRun) signal(n int, kind faultKind) func() {
	proc := r.c.nodes[n].cmd.Process
	if kind == faultKill {
		r.logf("kill -9 node %d", n+1)
		r.c.nodes[n].kill()
		r.killed[n] = true
		return func() {
			r.c.start(n) // listens once it has joined the quorum
			delete(r.killed, n)
		}
	}
	r.logf("pause node %d", n+1)
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("pausing node %d: %v", n+1, err)
	}
	r.paused[n] = true
	return func() {
		if err := proc.Signal(syscall.SIGCONT); err != nil {
			r.t.Fatalf("resuming node %d: %v", n+1, err)
		}
		delete(r.paused, n)
	}
}

func (r *chaosRun) step(s chaosStep) {
	var heals []func()
	for _, f := range s.faults {
		if heal := r.inject(f); heal != nil {
			heals = append(heals, heal)
		}
	}
	time.Sleep(s.hold)
	for _, heal := range heals {
		heal()
	}
	r.logf("healed")
	if s.settle {
		r.settle()
	}
	time.Sleep(s.rest)
}

// settle waits until every node runs, listens, and agrees on a leader
// with every replica in the ISR.
func (r *chaosRun) settle() {
	for i := range r.c.nodes {
		r.c.waitUp(i)
	}
	v := r.c.waitAgreed(r.topic, 0)
	r.logf("settled: %v", v)
}

// TestChaos runs an acks=all producer against three nodes (one partition,
// three replicas, min.insync.replicas=2) while a schedule drawn from a
// seed kills and restarts nodes, pauses them, and cuts (both ways or one)
// or stalls their links (Kafka, quorum or both), often aiming at the
// partition's leader or the controller. After healing everything, the
// cluster must recover (a full ISR the nodes agree on, new writes
// acknowledged), every acknowledged record must be there once and in
// order, and the replicas byte for byte the same.
func TestChaos(t *testing.T) {
	steps, short := 12, ""
	if testing.Short() {
		steps, short = 8, " -short"
	}
	for _, seed := range chaosSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("replay with EDDY_CHAOS_SEED=%d go test%s ./internal/node -run 'TestChaos$'", seed, short)
			runChaos(t, seed, steps)
		})
	}
}

func runChaos(t *testing.T, seed uint64, steps int) {
	schedule := chaosSchedule(seed, steps, 3)
	for i, s := range schedule {
		t.Logf("step %d: %v", i+1, s)
	}
	var args []string
	logDir := os.Getenv("EDDY_CHAOS_LOGDIR")
	if logDir != "" {
		args = append(args, "--log-level", "debug")
	}
	c := newFaultCluster(t, 3, args)
	var clientLog *os.File
	if logDir != "" {
		clientLog = keepChaosLogs(t, c, logDir, seed)
	}
	r := &chaosRun{t: t, c: c, topic: "chaos", start: time.Now(), killed: map[int]bool{}, paused: map[int]bool{}}
	c.createReplicated(r.topic)
	// franz-go refreshes metadata at most every 5 s by default, which
	// would hide how soon the cluster recovers behind the client's wait,
	// and leave fewer writes in flight across the faults.
	opts := []kgo.Opt{kgo.DefaultProduceTopic(r.topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(250 * time.Millisecond)}
	if clientLog != nil {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(clientLog, kgo.LogLevelDebug, func() string {
			return fmt.Sprintf("%s %6.1fs ", time.Now().Format("15:04:05.000"), time.Since(r.start).Seconds())
		})))
	}
	ap := startAckedProducer(t, c.client(opts...))
	waitFor(t, "the producer to make progress", func() bool { return ap.count() > 20 })
	for i, s := range schedule {
		r.logf("step %d: %d acknowledged so far", i+1, ap.count())
		r.step(s)
	}
	c.healAll()
	r.settle()
	acks := ap.count()
	healed := time.Now()
	waitFor(t, "the producer to make progress after healing", func() bool { return ap.count() > acks+20 })
	r.logf("acknowledging again %v after healing", time.Since(healed).Round(time.Millisecond))
	acked := ap.finish()
	r.logf("longest waits for an acknowledgement: %s", longestGaps(ap, r.start, 3))
	checkExactlyOnceInOrder(t, c.procCluster, r.topic, acked)
	c.waitIdenticalReplicas(r.topic, 0)
}

// keepChaosLogs writes, when the test ends, every node process's whole
// log (debug level) to dir, and returns the file for the producer's
// client log: EDDY_CHAOS_LOGDIR=dir, to study a failed seed's replay.
func keepChaosLogs(t *testing.T, c *faultCluster, dir string, seed uint64) *os.File {
	dir = filepath.Join(dir, fmt.Sprint(seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "producer.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		for i, n := range c.started {
			name := filepath.Join(dir, fmt.Sprintf("node%d-start%02d.log", slices.Index(c.kafkaReal, n.addr)+1, i))
			if err := os.WriteFile(name, []byte(n.log.String()), 0o644); err != nil {
				t.Error(err)
			}
		}
		t.Logf("logs in %s", dir)
	})
	return f
}

// longestGaps lists the n longest times between consecutive
// acknowledgements and when they began, measured (not asserted) to show
// which faults cost availability.
func longestGaps(ap *ackedProducer, start time.Time, n int) string {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	type gap struct{ from, d time.Duration }
	var gaps []gap
	for i := 1; i < len(ap.acks); i++ {
		gaps = append(gaps, gap{ap.acks[i-1].Sub(start), ap.acks[i].Sub(ap.acks[i-1])})
	}
	slices.SortFunc(gaps, func(a, b gap) int { return cmp.Compare(b.d, a.d) })
	var out []string
	for _, g := range gaps[:min(n, len(gaps))] {
		out = append(out, fmt.Sprintf("%v from %.1fs", g.d.Round(10*time.Millisecond), g.from.Seconds()))
	}
	return strings.Join(out, ", ")
}

// TestTwoNodesRestartTogether kills two of three nodes with SIGKILL and
// restarts them at once, within their session timeout, so that each one's
// registration moves its own leaderships and ISR places away while the
// other's does the same to the same partition; a chaos seed found this.
// Both must come back, the cluster must acknowledge again, and nothing
// acknowledged may be lost.
func TestTwoNodesRestartTogether(t *testing.T) {
	c := newFaultCluster(t, 3, nil)
	const topic = "together"
	c.createReplicated(topic)
	ap := startAckedProducer(t, c.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.ProducerLinger(0), kgo.MetadataMinAge(250*time.Millisecond)))
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		acks := ap.count()
		waitFor(t, "the producer to make progress", func() bool { return ap.count() > acks+20 })
		// Two nodes other than the controller, so that the quorum keeps its
		// leader's view of the sessions and only the registrations race.
		ctrl := c.viewOf(0, topic, 0).controller
		var victims []int
		for i := range c.nodes {
			if int32(i+1) != ctrl {
				victims = append(victims, i)
			}
		}
		for _, i := range victims {
			c.nodes[i].kill()
		}
		for _, i := range victims {
			c.start(i)
		}
		for _, i := range victims {
			c.waitUp(i)
		}
		v := c.waitAgreed(topic, 0)
		t.Logf("round %d: killed and restarted nodes %d and %d together; %v", round+1, victims[0]+1, victims[1]+1, v)
	}
	acks := ap.count()
	waitFor(t, "the producer to make progress after the restarts", func() bool { return ap.count() > acks+20 })
	checkExactlyOnceInOrder(t, c.procCluster, topic, ap.finish())
	c.waitIdenticalReplicas(topic, 0)
}
