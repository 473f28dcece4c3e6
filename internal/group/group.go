package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka names it in
// DescribeGroups and ListGroups.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s groupState) String() string { return stateNames[s] }

// group is one classic consumer group. Its methods are called by its
// coordinator only.
type group struct {
	c            *coordinator
	id           string
	state        groupState
	stateSince   time.Time // zero if unknown (old records)
	hasMetadata  bool      // a group metadata record exists (or must be written)
	protocolType string    // "" for groups used only to store offsets
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	seq          uint64               // join order of members
	pending      map[string]time.Time // KIP-394 member ids → expiry
	static       map[string]string    // group.instance.id → member id
	offsets      map[topicPartition]*offsetEntry
	cg           *consumerGroup // non-nil for a KIP-848 consumer group

	// PreparingRebalance: the join barrier completes at rebalanceAt (or
	// once all members rejoined, unless in the initial delay).
	rebalanceAt    time.Time
	initialDelay   bool
	newMemberAdded bool
	remaining      time.Duration
	// CompletingRebalance: members that must still sync by syncAt.
	pendingSync map[string]bool
	syncAt      time.Time

	scheduled time.Time // earliest timer queued for this group
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID, host   string
	rebalanceTimeout int32
	sessionTimeout   int32
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64
	join, sync       *parked   // replies waiting for the rebalance
	expires          time.Time // session deadline while not parked
}

// parked is a request whose reply waits inside the core.
type parked struct {
	id  replyID
	req kmsg.Request
}

func (m *member) session() time.Duration {
	return time.Duration(m.sessionTimeout) * time.Millisecond
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// getOrCreate returns the group named id, creating it Empty.
func (c *coordinator) getOrCreate(id string, now time.Time) *group {
	if g := c.groups[id]; g != nil {
		return g
	}
	g := &group{c: c, id: id, stateSince: now, members: make(map[string]*member),
		pending: make(map[string]time.Time), static: make(map[string]string),
		offsets: make(map[topicPartition]*offsetEntry)}
	c.groups[id] = g
	return g
}

// dropIfUnused forgets a group that holds nothing, such as one created by
// a request that then failed.
func (c *coordinator) dropIfUnused(g *group) {
	if g.empty() && !g.hasMetadata && len(g.pending) == 0 && len(g.offsets) == 0 && !c.hasPendingTxn(g.id, nil) {
		g.forgetConsumer()
		delete(c.groups, g.id)
	}
}

// empty reports whether g has no members, of either protocol.
func (g *group) empty() bool {
	if g.cg != nil {
		return len(g.cg.members) == 0
	}
	return g.state == stateEmpty && len(g.members) == 0
}

func (g *group) setState(s groupState, now time.Time) {
	g.state, g.stateSince = s, now
}

// sortedMembers lists members in join order (Kafka keeps insertion order).
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return int(a.seq) - int(b.seq) })
	return ms
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d int32
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return time.Duration(d) * time.Millisecond
}

// deadline is the earliest time something in g is due.
func (g *group) deadline() time.Time {
	if g.cg != nil {
		return g.cg.deadline()
	}
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, t := range g.pending {
		earliest(t)
	}
	for _, m := range g.members {
		if m.join == nil && m.sync == nil {
			earliest(m.expires)
		}
	}
	switch g.state {
	case statePreparingRebalance:
		earliest(g.rebalanceAt)
	case stateCompletingRebalance:
		earliest(g.syncAt)
	}
	return next
}

// tickGroup expires pending ids and silent members, and completes the
// rebalance and sync barriers whose time has come.
func (c *coordinator) tickGroup(now time.Time, g *group) {
	if g.cg != nil {
		c.tickConsumer(now, g)
		return
	}
	for id, t := range g.pending {
		if !now.Before(t) {
			delete(g.pending, id)
		}
	}
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.sync == nil && !now.Before(m.expires) {
			c.log.Info("group member session expired", "group", g.id, "member", m.id)
			g.removeMember(m)
			g.memberGone(now)
		}
	}
	switch {
	case g.state == statePreparingRebalance && !now.Before(g.rebalanceAt):
		g.rebalanceDue(now)
	case g.state == stateCompletingRebalance && !now.Before(g.syncAt):
		g.syncDue(now)
	default:
		g.maybeCompleteJoin(now) // a pending id expired
	}
}

// rebalanceDue ends the join barrier, or extends the initial delay while
// new members keep arriving (Kafka's InitialDelayedJoin).
func (g *group) rebalanceDue(now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.remaining > 0 {
		d := min(g.c.cfg.settings.initialDelay, g.remaining)
		g.newMemberAdded, g.remaining, g.rebalanceAt = false, g.remaining-d, now.Add(d)
		return
	}
	g.initialDelay = false
	g.completeJoin(now)
}

// syncDue removes the members that did not sync in time and rebalances.
func (g *group) syncDue(now time.Time) {
	for _, m := range g.sortedMembers() {
		if g.pendingSync[m.id] {
			g.c.log.Info("group member did not sync in time", "group", g.id, "member", m.id)
			g.removeMember(m)
		}
	}
	g.prepareRebalance(now)
	g.maybeCompleteJoin(now)
}

// prepareRebalance opens a join barrier: waiting syncs are told to rejoin.
// A group leaving Empty waits group.initial.rebalance.delay.ms for more
// members first, extended while more arrive, up to the rebalance timeout.
func (g *group) prepareRebalance(now time.Time) {
	if g.state == stateCompletingRebalance {
		for _, m := range g.sortedMembers() {
			m.assignment = nil
			g.answerSync(m, kerr.RebalanceInProgress.Code)
		}
	}
	g.pendingSync = nil
	rt := g.maxRebalanceTimeout()
	delay := g.c.cfg.settings.initialDelay
	g.initialDelay = g.state == stateEmpty && delay > 0
	if g.initialDelay {
		g.rebalanceAt = now.Add(min(delay, rt))
		g.remaining, g.newMemberAdded = max(rt-delay, 0), false
	} else {
		g.rebalanceAt = now.Add(rt)
	}
	g.setState(statePreparingRebalance, now)
}

// maybeRebalance starts a rebalance unless one is being prepared.
func (g *group) maybeRebalance(now time.Time) {
	if g.state != statePreparingRebalance {
		g.prepareRebalance(now)
	}
	g.maybeCompleteJoin(now)
}

// allJoined is Kafka's hasAllMembersJoined: every member waits in
// JoinGroup and no KIP-394 id is outstanding.
func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return len(g.pending) == 0
}

func (g *group) maybeCompleteJoin(now time.Time) {
	if g.state == statePreparingRebalance && !g.initialDelay && g.allJoined() {
		g.completeJoin(now)
	}
}

// completeJoin ends the join barrier: dynamic members that did not rejoin
// are removed (static ones keep their place until their session ends),
// the generation advances and every waiting JoinGroup is answered.
func (g *group) completeJoin(now time.Time) {
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			g.removeMember(m)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that have not rejoined remain: wait for
		// them to rejoin or for their sessions to end.
		g.rebalanceAt = now.Add(g.maxRebalanceTimeout())
		return
	}
	g.generation++
	g.c.rebalanced()
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(stateEmpty, now)
		g.persist()
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(stateCompletingRebalance, now)
	g.pendingSync = make(map[string]bool, len(g.members))
	g.syncAt = now.Add(g.maxRebalanceTimeout())
	for _, m := range g.sortedMembers() {
		g.pendingSync[m.id] = true
		if m.join != nil {
			p := m.join
			m.join = nil
			m.expires = now.Add(m.session())
			g.c.reply(p.id, g.joinResponse(p.req.(*kmsg.JoinGroupRequest), m))
		}
	}
}

// electJoinedLeader keeps the leader if it rejoined, or picks the first
// member that did.
func (g *group) electJoinedLeader() bool {
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// selectProtocol is Kafka's vote: among the protocols every member
// supports, each member votes for the first it lists; most votes wins,
// ties going to the one listed first by the longest-standing member.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	var candidates []string
	for _, p := range ms[0].protocols {
		if !slices.Contains(candidates, p.Name) && g.allSupport(p.Name, "") {
			candidates = append(candidates, p.Name)
		}
	}
	if len(candidates) == 0 {
		// JoinGroup admits only members sharing a protocol.
		panic("group: members share no protocol")
	}
	votes := make(map[string]int)
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := candidates[0]
	for _, p := range candidates {
		if votes[p] > votes[best] {
			best = p
		}
	}
	return best
}

// allSupport reports whether every member but except lists protocol.
func (g *group) allSupport(protocol, except string) bool {
	for _, m := range g.members {
		if m.id != except && !slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == protocol }) {
			return false
		}
	}
	return true
}

// removeMember drops m without rebalancing; its waiting requests are told
// it is unknown now.
func (g *group) removeMember(m *member) {
	if m.join != nil {
		g.c.reply(m.join.id, errorResponse(m.join.req, kerr.UnknownMemberID.Code))
		m.join = nil
	}
	g.answerSync(m, kerr.UnknownMemberID.Code)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
	}
}

// memberGone rebalances after a member left or expired.
func (g *group) memberGone(now time.Time) {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(now)
	}
	g.maybeCompleteJoin(now)
}

// answerSync answers m's waiting SyncGroup, if any, with code.
func (g *group) answerSync(m *member, code int16) {
	if m.sync == nil {
		return
	}
	g.c.reply(m.sync.id, errorResponse(m.sync.req, code))
	m.sync = nil
}

// joinResponse is m's answer for the current generation; the leader also
// gets every member's metadata for the chosen protocol.
func (g *group) joinResponse(r *kmsg.JoinGroupRequest, m *member) *kmsg.JoinGroupResponse {
	resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation, resp.LeaderID, resp.MemberID = g.generation, g.leader, m.id
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocol)
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = o.id, o.instanceID, o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

// persist queues g's metadata record (Kafka writes it when a generation
// is assigned and when the group empties).
func (g *group) persist() {
	g.hasMetadata = true
	g.c.emit(groupRecord(g.id, g.metadataValue()))
}

func (g *group) metadataValue() *kmsg.GroupMetadataValue {
	v := kmsg.NewGroupMetadataValue()
	v.ProtocolType, v.Generation = g.protocolType, g.generation
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = -1
	if !g.stateSince.IsZero() {
		v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	}
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.host
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceTimeout, m.sessionTimeout
		vm.Subscription, vm.Assignment = m.metadataFor(g.protocol), m.assignment
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return &v
}
