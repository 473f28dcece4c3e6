package group

// JoinGroup v0–v9, SyncGroup v0–v5, Heartbeat v0–v4, LeaveGroup v0–v5: the
// classic rebalance protocol, with KIP-394 member ids and KIP-345 static
// membership. KIP-848 consumer groups are in consumer.go; a JoinGroup to
// one with members is INCONSISTENT_GROUP_PROTOCOL (no KIP-848 migration).
// Not implemented: KIP-559 reasons are ignored.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMemberMetadata bounds one member's protocol metadata (and assignment)
// so a group's metadata record stays writable.
const maxMemberMetadata = 1 << 20

func joinError(r *kmsg.JoinGroupRequest, code int16) *kmsg.JoinGroupResponse {
	resp := errorResponse(r, code).(*kmsg.JoinGroupResponse)
	resp.MemberID = r.MemberID
	return resp
}

func (c *coordinator) join(now time.Time, id replyID, ci ClientInfo, r *kmsg.JoinGroupRequest) kmsg.Response {
	if code := c.checkJoin(r); code != 0 {
		return joinError(r, code)
	}
	g := c.groups[r.Group]
	if g == nil && r.MemberID != "" {
		return joinError(r, kerr.UnknownMemberID.Code)
	}
	if g != nil && g.cg != nil {
		// A consumer group takes classic members only once empty, and
		// then becomes a classic group again (its offsets stay).
		if !g.empty() {
			return joinError(r, kerr.InconsistentGroupProtocol.Code)
		}
		g.forgetConsumer()
		g.cg, g.protocolType = nil, ""
	}
	if g == nil {
		g = c.getOrCreate(r.Group, now)
	}
	resp := g.join(now, &parked{id: id, req: r}, ci)
	c.dropIfUnused(g)
	c.schedule(g)
	return resp
}

// checkJoin validates what does not depend on the group.
func (c *coordinator) checkJoin(r *kmsg.JoinGroupRequest) int16 {
	s := c.cfg.settings
	size := 0
	for _, p := range r.Protocols {
		size += len(p.Metadata)
	}
	switch {
	case r.Group == "":
		return kerr.InvalidGroupID.Code
	case r.SessionTimeoutMillis < s.minSession || r.SessionTimeoutMillis > s.maxSession:
		return kerr.InvalidSessionTimeout.Code
	case r.ProtocolType == "" || len(r.Protocols) == 0:
		return kerr.InconsistentGroupProtocol.Code
	case size > maxMemberMetadata:
		c.log.Warn("join group rejected: member metadata over 1 MiB", "group", r.Group, "bytes", size)
		return kerr.MessageTooLarge.Code
	}
	return 0
}

// join returns the immediate answer, or nil when p parks.
func (g *group) join(now time.Time, p *parked, ci ClientInfo) kmsg.Response {
	r := p.req.(*kmsg.JoinGroupRequest)
	if !g.supports(r) {
		return joinError(r, kerr.InconsistentGroupProtocol.Code)
	}
	if r.MemberID == "" {
		return g.joinNew(now, p, ci)
	}
	return g.joinKnown(now, p, ci)
}

// supports is Kafka's protocol check: an empty group takes any protocol
// type; otherwise the type must match and one of the protocols must be
// supported by every other member.
func (g *group) supports(r *kmsg.JoinGroupRequest) bool {
	others := len(g.members)
	if _, ok := g.members[r.MemberID]; ok {
		others--
	}
	if others == 0 {
		return true
	}
	if r.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range r.Protocols {
		if g.allSupport(p.Name, r.MemberID) {
			return true
		}
	}
	return false
}

func (g *group) full() bool {
	return len(g.members)+len(g.pending) >= g.c.cfg.settings.maxSize
}

func (g *group) newMemberID(r *kmsg.JoinGroupRequest, ci ClientInfo) string {
	prefix := ci.ClientID
	if r.InstanceID != nil {
		prefix = *r.InstanceID
	}
	return prefix + "-" + g.c.cfg.newUUID()
}

// joinNew handles a JoinGroup without a member id.
func (g *group) joinNew(now time.Time, p *parked, ci ClientInfo) kmsg.Response {
	r := p.req.(*kmsg.JoinGroupRequest)
	if r.InstanceID != nil {
		if old := g.members[g.static[*r.InstanceID]]; old != nil {
			return g.replaceStatic(now, p, ci, old)
		}
	}
	if g.full() {
		return joinError(r, kerr.GroupMaxSizeReached.Code)
	}
	id := g.newMemberID(r, ci)
	if r.InstanceID == nil && r.Version >= 4 {
		// KIP-394: the client must come back with this id.
		g.pending[id] = now.Add(time.Duration(r.SessionTimeoutMillis) * time.Millisecond)
		resp := joinError(r, kerr.MemberIDRequired.Code)
		resp.MemberID = id
		return resp
	}
	m := &member{id: id, instanceID: r.InstanceID}
	if r.InstanceID != nil {
		g.static[*r.InstanceID] = id
	}
	g.addMember(now, m, p, ci)
	return nil
}

// joinKnown handles a JoinGroup from a member id the group gave out.
func (g *group) joinKnown(now time.Time, p *parked, ci ClientInfo) kmsg.Response {
	r := p.req.(*kmsg.JoinGroupRequest)
	if code := g.checkStatic(r.InstanceID, r.MemberID); code != 0 {
		return joinError(r, code)
	}
	if _, ok := g.pending[r.MemberID]; ok {
		delete(g.pending, r.MemberID)
		g.addMember(now, &member{id: r.MemberID}, p, ci)
		return nil
	}
	m := g.members[r.MemberID]
	if m == nil {
		return joinError(r, kerr.UnknownMemberID.Code)
	}
	switch g.state {
	case stateCompletingRebalance:
		if m.sameProtocols(r.Protocols) {
			return g.joinResponse(r, m)
		}
	case stateStable:
		if m.id != g.leader && m.sameProtocols(r.Protocols) {
			return g.joinResponse(r, m)
		}
	}
	g.updateMember(m, p, ci)
	g.maybeRebalance(now)
	return nil
}

// checkStatic is Kafka's static-member check: an instance id mapped to
// another member id is fenced; an unknown one is an unknown member.
func (g *group) checkStatic(instanceID *string, memberID string) int16 {
	if instanceID == nil {
		return 0
	}
	known, ok := g.static[*instanceID]
	switch {
	case ok && known != memberID:
		return kerr.FencedInstanceID.Code
	case !ok:
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// addMember adds m, parked on its JoinGroup, and rebalances.
func (g *group) addMember(now time.Time, m *member, p *parked, ci ClientInfo) {
	g.seq++
	m.seq = g.seq
	g.members[m.id] = m
	g.updateMember(m, p, ci)
	if g.state == statePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	g.maybeRebalance(now)
}

// updateMember takes the JoinGroup's settings and parks its reply. A
// JoinGroup already waiting (a client retry) is told to rejoin.
func (g *group) updateMember(m *member, p *parked, ci ClientInfo) {
	r := p.req.(*kmsg.JoinGroupRequest)
	m.clientID, m.host = ci.ClientID, ci.Host
	m.sessionTimeout, m.rebalanceTimeout = r.SessionTimeoutMillis, r.RebalanceTimeoutMillis
	if r.Version == 0 || m.rebalanceTimeout <= 0 {
		m.rebalanceTimeout = r.SessionTimeoutMillis
	}
	m.protocolType, m.protocols = r.ProtocolType, r.Protocols
	if len(g.members) == 1 {
		g.protocolType = r.ProtocolType
	}
	if m.join != nil {
		g.c.reply(m.join.id, joinError(m.join.req.(*kmsg.JoinGroupRequest), kerr.RebalanceInProgress.Code))
	}
	m.join = p
	g.c.park(g, p)
}

// replaceStatic is KIP-345: a static member rejoining without its member
// id takes a new id, fencing the old one. In a Stable group with the same
// protocols it keeps its assignment and nobody rebalances; the leader is
// told to skip assignment (KIP-814).
func (g *group) replaceStatic(now time.Time, p *parked, ci ClientInfo, m *member) kmsg.Response {
	r := p.req.(*kmsg.JoinGroupRequest)
	if m.join != nil {
		g.c.reply(m.join.id, joinError(m.join.req.(*kmsg.JoinGroupRequest), kerr.FencedInstanceID.Code))
		m.join = nil
	}
	g.answerSync(m, kerr.FencedInstanceID.Code)
	old := m.id
	delete(g.members, old)
	m.id = g.newMemberID(r, ci)
	g.members[m.id] = m
	g.static[*r.InstanceID] = m.id
	if g.leader == old {
		g.leader = m.id
	}
	if g.pendingSync[old] {
		delete(g.pendingSync, old)
		g.pendingSync[m.id] = true
	}
	if g.state == stateStable && r.ProtocolType == g.protocolType && g.keepsProtocol(m, r.Protocols) {
		m.protocols = r.Protocols
		m.clientID, m.host = ci.ClientID, ci.Host
		m.sessionTimeout, m.rebalanceTimeout = r.SessionTimeoutMillis, max(r.RebalanceTimeoutMillis, r.SessionTimeoutMillis)
		m.expires = now.Add(m.session())
		g.persist()
		resp := g.joinResponse(r, m)
		resp.SkipAssignment = m.id == g.leader
		return resp
	}
	g.updateMember(m, p, ci)
	g.maybeRebalance(now)
	return nil
}

// keepsProtocol reports whether the group would select the same protocol
// with m's protocols replaced by ps. Kafka skips the rebalance of a rejoining
// static member on this test alone: the metadata bytes may differ (a
// cooperative member's owned partitions, say) without the subscription
// changing.
func (g *group) keepsProtocol(m *member, ps []kmsg.JoinGroupRequestProtocol) bool {
	prev := m.protocols
	m.protocols = ps
	same := g.selectProtocol() == g.protocol
	m.protocols = prev
	return same
}

func (c *coordinator) sync(now time.Time, id replyID, r *kmsg.SyncGroupRequest) kmsg.Response {
	if r.Group == "" {
		return errorResponse(r, kerr.InvalidGroupID.Code)
	}
	g := c.groups[r.Group]
	if g == nil {
		return errorResponse(r, kerr.UnknownMemberID.Code)
	}
	resp := g.sync(now, &parked{id: id, req: r})
	c.schedule(g)
	return resp
}

// validate is Kafka's current-member check for a generation.
func (g *group) validate(memberID string, instanceID *string, generation int32) int16 {
	if code := g.checkStatic(instanceID, memberID); code != 0 {
		return code
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

func (g *group) sync(now time.Time, p *parked) kmsg.Response {
	r := p.req.(*kmsg.SyncGroupRequest)
	if code := g.validate(r.MemberID, r.InstanceID, r.Generation); code != 0 {
		return errorResponse(r, code)
	}
	if (r.ProtocolType != nil && *r.ProtocolType != g.protocolType) || (r.Protocol != nil && *r.Protocol != g.protocol) {
		return errorResponse(r, kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[r.MemberID]
	switch g.state {
	case statePreparingRebalance:
		return errorResponse(r, kerr.RebalanceInProgress.Code)
	case stateStable:
		delete(g.pendingSync, m.id)
		m.expires = now.Add(m.session())
		return g.syncResponse(r, m)
	case stateCompletingRebalance:
	default:
		return errorResponse(r, kerr.UnknownMemberID.Code)
	}
	if m.id == g.leader {
		for _, a := range r.GroupAssignment {
			if len(a.MemberAssignment) > maxMemberMetadata {
				g.c.log.Warn("sync group rejected: assignment over 1 MiB", "group", g.id, "member", a.MemberID)
				return errorResponse(r, kerr.MessageTooLarge.Code)
			}
		}
	}
	delete(g.pendingSync, m.id)
	g.answerSync(m, kerr.RebalanceInProgress.Code)
	m.sync = p
	g.c.park(g, p)
	if m.id == g.leader {
		g.completeSync(now, r.GroupAssignment)
	}
	return nil
}

// completeSync takes the leader's assignment, persists the generation and
// answers every waiting SyncGroup: the group is Stable.
func (g *group) completeSync(now time.Time, as []kmsg.SyncGroupRequestGroupAssignment) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	for _, a := range as {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = a.MemberAssignment
		}
	}
	g.setState(stateStable, now)
	g.persist()
	for _, m := range g.sortedMembers() {
		if m.sync != nil {
			p := m.sync
			m.sync = nil
			m.expires = now.Add(m.session())
			g.c.reply(p.id, g.syncResponse(p.req.(*kmsg.SyncGroupRequest), m))
		}
	}
}

func (g *group) syncResponse(r *kmsg.SyncGroupRequest, m *member) *kmsg.SyncGroupResponse {
	resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ProtocolType, resp.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	return resp
}

func (c *coordinator) heartbeat(now time.Time, r *kmsg.HeartbeatRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
	g := c.groups[r.Group]
	switch {
	case r.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	default:
		resp.ErrorCode = g.validate(r.MemberID, r.InstanceID, r.Generation)
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	m := g.members[r.MemberID]
	if m.join == nil && m.sync == nil {
		m.expires = now.Add(m.session())
	}
	switch g.state {
	case statePreparingRebalance:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case stateEmpty, stateDead:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}

func (c *coordinator) leave(now time.Time, r *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
	if r.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	leaving := r.Members
	if r.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: r.MemberID}}
	}
	g := c.groups[r.Group]
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = kerr.UnknownMemberID.Code
		if g != nil {
			rm.ErrorCode = g.leave(now, lm)
		}
		resp.Members = append(resp.Members, rm)
	}
	if g != nil {
		c.schedule(g)
	}
	if r.Version < 3 {
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
	return resp
}

// leave removes one member, by member id or (v3+) by instance id.
func (g *group) leave(now time.Time, lm kmsg.LeaveGroupRequestMember) int16 {
	id := lm.MemberID
	if lm.InstanceID != nil {
		known, ok := g.static[*lm.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case id != "" && id != known:
			return kerr.FencedInstanceID.Code
		}
		id = known
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		g.maybeCompleteJoin(now)
		return 0
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeMember(m)
	g.memberGone(now)
	return 0
}
