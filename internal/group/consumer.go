package group

// ConsumerGroupHeartbeat v0–v1: KIP-848 consumer groups, whose
// coordinator assigns partitions itself (assignors "uniform" and "range",
// group.consumer.assignors) and moves each member towards its target one
// heartbeat at a time, giving a partition to its new owner only once the
// previous owner has reported it released. v0 members without an id get
// one; v1 members bring their own. Subscriptions are topic names or an RE2
// regex matched against whole topic names (internal topics included, as
// Kafka does). Not implemented: rack-aware assignment (RackID is kept and
// described only), the classic-protocol members of a consumer group
// (KIP-848 migration). Membership is durable (consumer_persist.go): after
// a restart members continue at their epochs.

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Member epochs with a meaning of their own.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2 // a static member away, its partitions kept
)

// memberState is where a member is in its reconciliation, named as Kafka
// names it.
type memberState int8

const (
	memberStable     memberState = iota // holds its target at the target epoch
	memberUnrevoked                     // must release partitions first
	memberUnreleased                    // waits for others to release its new partitions
)

// consumerGroup is the KIP-848 state of a group (group.cg); the classic
// fields of its group stay unused.
type consumerGroup struct {
	epoch       int32  // group epoch: bumped when members or subscriptions change
	targetEpoch int32  // epoch of the target assignment
	assignor    string // assignor of the target
	members     map[string]*consumerMember
	static      map[string]string         // instance id → member id
	owners      map[topicPartition]string // partition → member holding it (assigned or revoking)
	subscribed  map[string]int32          // subscribed topics' partitions, as the target saw them

	saved        cgSaved         // what the group's records say
	dirty        map[string]bool // members whose records may be out of date
	targetsDirty bool            // the target assignment was recomputed
}

// consumerMember is one member of a consumer group.
type consumerMember struct {
	id                 string
	instanceID, rackID *string
	clientID, host     string
	epoch, prevEpoch   int32
	state              memberState
	rebalanceTimeout   int32  // ms: how long it may take to release partitions
	assignor           string // asked for, "" if none
	topicNames         []string
	regex              string
	re                 *regexp.Regexp
	assigned           tpSet                    // what it was told it holds
	revoking           tpSet                    // what it must release
	target             tpSet                    // what the assignor gives it
	assignedAt         map[topicPartition]int32 // epoch each assigned partition was given at
	expires            time.Time                // session deadline
	revokeBy           time.Time                // rebalance deadline while revoking
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: make(map[string]*consumerMember), static: make(map[string]string),
		owners: make(map[topicPartition]string), subscribed: map[string]int32{}, dirty: make(map[string]bool)}
}

// heartbeatError answers r with code and, for INVALID_REQUEST, why.
func heartbeatError(r *kmsg.ConsumerGroupHeartbeatRequest, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = kmsg.StringPtr(msg)
	}
	return resp
}

// checkHeartbeat is Kafka's request validation, which does not depend on
// the group. It compiles the regex, if one is sent.
func (c *coordinator) checkHeartbeat(r *kmsg.ConsumerGroupHeartbeatRequest) (*regexp.Regexp, int16, string) {
	invalid := kerr.InvalidRequest.Code
	switch {
	case r.Group == "":
		return nil, kerr.InvalidGroupID.Code, ""
	case r.InstanceID != nil && *r.InstanceID == "":
		return nil, invalid, "InstanceId can't be empty."
	case r.RackID != nil && *r.RackID == "":
		return nil, invalid, "RackId can't be empty."
	case r.MemberEpoch < epochStaticLeave:
		return nil, invalid, "MemberEpoch is invalid."
	case r.MemberID == "" && (r.MemberEpoch != epochJoin || r.Version >= 1):
		return nil, invalid, "MemberId can't be empty."
	}
	if r.MemberEpoch == epochJoin {
		switch {
		case r.RebalanceTimeoutMillis == -1:
			return nil, invalid, "RebalanceTimeoutMs must be provided in first request."
		case r.Topics == nil || len(r.Topics) > 0:
			return nil, invalid, "TopicPartitions must be empty when (re-)joining."
		case r.SubscribedTopicNames == nil && r.SubscribedTopicRegex == nil:
			return nil, invalid, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	}
	if r.ServerAssignor != nil && !slices.Contains(c.cfg.settings.assignors, *r.ServerAssignor) {
		return nil, kerr.UnsupportedAssignor.Code, ""
	}
	if r.SubscribedTopicRegex == nil || *r.SubscribedTopicRegex == "" {
		return nil, 0, ""
	}
	re, err := regexp.Compile("^(?:" + *r.SubscribedTopicRegex + ")$")
	if err != nil {
		return nil, kerr.InvalidRegularExpression.Code, err.Error()
	}
	return re, 0, ""
}

func (c *coordinator) consumerHeartbeat(now time.Time, ci ClientInfo, r *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	resp := c.consumerHeartbeatResponse(now, ci, r)
	resp.HeartbeatIntervalMillis = int32(c.heartbeatInterval(r.Group).Milliseconds())
	return resp
}

func (c *coordinator) consumerHeartbeatResponse(now time.Time, ci ClientInfo, r *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	re, code, msg := c.checkHeartbeat(r)
	if code != 0 {
		return heartbeatError(r, code, msg)
	}
	g := c.groups[r.Group]
	switch {
	case g != nil && g.cg == nil && !g.empty():
		return heartbeatError(r, kerr.GroupIDNotFound.Code, "Group "+r.Group+" is not a consumer group.")
	case r.MemberEpoch != epochJoin && (g == nil || g.cg == nil):
		return heartbeatError(r, kerr.UnknownMemberID.Code, "")
	}
	if g == nil {
		g = c.getOrCreate(r.Group, now)
	}
	if g.cg == nil {
		g.toConsumer()
	}
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	hb := &heartbeat{g: g, now: now, ci: ci, r: r, re: re, resp: resp, topics: c.topics()}
	switch r.MemberEpoch {
	case epochJoin:
		hb.join()
	case epochLeave, epochStaticLeave:
		hb.leave()
	default:
		hb.beat()
	}
	g.cg.touch(r.MemberID)
	if resp.MemberID != nil {
		g.cg.touch(*resp.MemberID)
	}
	c.dropIfUnused(g)
	if c.groups[g.id] == g {
		g.persistConsumer()
	}
	c.schedule(g)
	return resp
}

// topics lists the cluster's topics and partition counts.
func (c *coordinator) topics() map[string]int32 {
	if c.cfg.topics == nil {
		return nil
	}
	return c.cfg.topics()
}

// toConsumer makes an empty classic group a consumer group; its offsets
// stay, its classic metadata record is deleted (the consumer group's
// records follow in the same append).
func (g *group) toConsumer() {
	if g.hasMetadata {
		g.c.emit(groupRecord(g.id, nil))
		g.hasMetadata = false
	}
	g.protocol, g.leader, g.protocolType = "", "", "consumer"
	g.cg = newConsumerGroup()
}

// heartbeat is one ConsumerGroupHeartbeat being answered.
type heartbeat struct {
	g      *group
	now    time.Time
	ci     ClientInfo
	r      *kmsg.ConsumerGroupHeartbeatRequest
	re     *regexp.Regexp
	resp   *kmsg.ConsumerGroupHeartbeatResponse
	topics map[string]int32
}

func (hb *heartbeat) fail(code int16) { hb.resp.ErrorCode = code }

// join admits a member with epoch 0: a new one, a static member taking
// over its instance id's place after a static leave, or a known member
// rejoining (a lost response, or a fenced member), which keeps its place.
func (hb *heartbeat) join() {
	cg, r := hb.g.cg, hb.r
	id := r.MemberID
	if id == "" {
		id = hb.ci.ClientID + "-" + hb.g.c.cfg.newUUID()
	}
	m := cg.members[id]
	if r.InstanceID != nil {
		if prev, ok := cg.static[*r.InstanceID]; ok && prev != id {
			old := cg.members[prev]
			if old.epoch != epochStaticLeave {
				hb.fail(kerr.UnreleasedInstanceID.Code)
				return
			}
			if m != nil {
				hb.g.removeConsumer(m, hb.topics)
			}
			m = cg.replace(old, id)
		}
	}
	isNew := m == nil
	if isNew {
		if len(cg.members) >= hb.g.c.cfg.settings.consumerMaxSize {
			hb.fail(kerr.GroupMaxSizeReached.Code)
			return
		}
		m = &consumerMember{id: id, instanceID: r.InstanceID, assigned: tpSet{}, revoking: tpSet{}, target: tpSet{},
			assignedAt: map[topicPartition]int32{}}
		cg.members[id] = m
		if r.InstanceID != nil {
			cg.static[*r.InstanceID] = id
		}
	}
	hb.progress(m, tpSet{}, hb.update(m) || isNew, true)
}

// replace hands a static member's place, assignment included, to the
// same instance's new member id.
func (cg *consumerGroup) replace(old *consumerMember, id string) *consumerMember {
	m := *old
	m.id, m.epoch, m.prevEpoch, m.state = id, 0, 0, memberStable
	delete(cg.members, old.id)
	cg.members[id] = &m
	cg.touch(old.id)
	cg.touch(id)
	cg.static[*m.instanceID] = id
	for tp := range m.assigned {
		cg.owners[tp] = id
	}
	return &m
}

// leave handles epochs -1 (leave) and -2 (static leave: the member stays,
// away, holding its partitions until it rejoins or its session ends). A
// static leave need not repeat the instance id (franz-go does not send
// it); from a dynamic member it is a leave.
func (hb *heartbeat) leave() {
	cg, r := hb.g.cg, hb.r
	m := cg.members[r.MemberID]
	if code := cg.checkInstance(r.InstanceID, r.MemberID, m); code != 0 {
		hb.fail(code)
		return
	}
	hb.resp.MemberID, hb.resp.MemberEpoch = &m.id, r.MemberEpoch
	if r.MemberEpoch == epochStaticLeave && m.instanceID != nil {
		hb.g.c.log.Info("consumer group static member left", "group", hb.g.id, "member", m.id, "instance", *m.instanceID)
		cg.setOwned(m, m.assigned, tpSet{})
		m.epoch, m.state, m.revokeBy = epochStaticLeave, memberStable, time.Time{}
		m.expires = hb.now.Add(hb.g.c.consumerSession(hb.g.id))
		return
	}
	hb.g.c.log.Info("consumer group member left", "group", hb.g.id, "member", m.id)
	hb.g.removeConsumer(m, hb.topics)
}

// checkInstance is Kafka's member check of requests from members already
// in the group: an instance id now held by another member is fenced.
func (cg *consumerGroup) checkInstance(instanceID *string, memberID string, m *consumerMember) int16 {
	if instanceID != nil {
		if owner, ok := cg.static[*instanceID]; ok && owner != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// beat is a heartbeat of a member in the group (epoch > 0).
func (hb *heartbeat) beat() {
	cg, r := hb.g.cg, hb.r
	m := cg.members[r.MemberID]
	if code := cg.checkInstance(r.InstanceID, r.MemberID, m); code != 0 {
		hb.fail(code)
		return
	}
	owned := hb.owned()
	if !m.epochValid(r.MemberEpoch, owned) {
		hb.fail(kerr.FencedMemberEpoch.Code)
		return
	}
	full := r.RebalanceTimeoutMillis != -1 && (r.SubscribedTopicNames != nil || r.SubscribedTopicRegex != nil) && r.Topics != nil
	hb.progress(m, owned, hb.update(m), full)
}

// epochValid is Kafka's epoch check: the current epoch, or the previous
// one when the response that advanced it may have been lost (the member
// then reports no partition it was not given).
func (m *consumerMember) epochValid(epoch int32, owned tpSet) bool {
	if epoch == m.epoch {
		return true
	}
	return epoch < m.epoch && epoch == m.prevEpoch && owned != nil && owned.subsetOf(m.assigned)
}

// owned is the request's Topics as a set, nil if not sent. Topics the
// cluster no longer knows are left out: nobody can be given them.
func (hb *heartbeat) owned() tpSet {
	if hb.r.Topics == nil {
		return nil
	}
	out := tpSet{}
	for _, t := range hb.r.Topics {
		name, ok := hb.g.c.topicName(t.TopicID)
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			out[topicPartition{name, p}] = true
		}
	}
	return out
}

// update takes the request's member settings (a field left null keeps
// its value) and reports whether the subscription changed.
func (hb *heartbeat) update(m *consumerMember) bool {
	r := hb.r
	m.clientID, m.host = hb.ci.ClientID, hb.ci.Host
	m.expires = hb.now.Add(hb.g.c.consumerSession(hb.g.id))
	if r.RackID != nil {
		m.rackID = r.RackID
	}
	if r.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = r.RebalanceTimeoutMillis
	}
	changed := false
	if r.SubscribedTopicNames != nil {
		names := slices.Clone(r.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		changed = changed || !slices.Equal(names, m.topicNames)
		m.topicNames = names
	}
	if r.SubscribedTopicRegex != nil && *r.SubscribedTopicRegex != m.regex {
		m.regex, m.re, changed = *r.SubscribedTopicRegex, hb.re, true
	}
	if r.ServerAssignor != nil && *r.ServerAssignor != m.assignor {
		m.assignor, changed = *r.ServerAssignor, true
	}
	return changed
}

// progress is the end of every join and heartbeat: the group epoch
// advances if the subscriptions or their topics changed, the member moves
// towards its target, and the answer carries its assignment when the
// request was a full one or the assignment changed.
func (hb *heartbeat) progress(m *consumerMember, owned tpSet, changed, full bool) {
	g := hb.g
	if changed || g.cg.topicsChanged(hb.topics) {
		g.bumpEpoch(hb.topics)
	}
	assignedChanged := g.reconcile(hb.now, m, owned)
	hb.resp.MemberID, hb.resp.MemberEpoch = &m.id, m.epoch
	if full || assignedChanged {
		hb.resp.Assignment = g.c.wireAssignment(m.assigned)
	}
}

// wireAssignment is s by topic id; topics without an id are left out.
func (c *coordinator) wireAssignment(s tpSet) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tp := range s.sorted() {
		id, ok := c.topicIDOf(tp.topic)
		if !ok {
			continue
		}
		if n := len(a.Topics); n == 0 || a.Topics[n-1].TopicID != id {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID = id
			a.Topics = append(a.Topics, t)
		}
		last := &a.Topics[len(a.Topics)-1]
		last.Partitions = append(last.Partitions, tp.partition)
	}
	return &a
}

func (c *coordinator) topicIDOf(topic string) ([16]byte, bool) {
	if c.cfg.topicID == nil {
		return [16]byte{}, false
	}
	return c.cfg.topicID(topic)
}

func (c *coordinator) topicName(id [16]byte) (string, bool) {
	if c.cfg.topicName == nil {
		return "", false
	}
	return c.cfg.topicName(id)
}

// removeConsumer drops m, freeing its partitions, and advances the group
// epoch so the others take them over.
func (g *group) removeConsumer(m *consumerMember, topics map[string]int32) {
	cg := g.cg
	cg.setOwned(m, tpSet{}, tpSet{})
	delete(cg.members, m.id)
	cg.touch(m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	g.bumpEpoch(topics)
}

// tickConsumer removes members whose session ended or that did not
// release their partitions within their rebalance timeout.
func (c *coordinator) tickConsumer(now time.Time, g *group) {
	var topics map[string]int32
	for _, m := range g.cg.sortedMembers() {
		reason := ""
		switch {
		case !now.Before(m.expires):
			reason = "consumer group member session expired"
		case !m.revokeBy.IsZero() && !now.Before(m.revokeBy):
			reason = "consumer group member did not revoke partitions in time"
		default:
			continue
		}
		if topics == nil {
			topics = c.topics()
		}
		c.log.Info("consumer group member removed", "reason", reason, "group", g.id, "member", m.id)
		g.removeConsumer(m, topics)
	}
	c.dropIfUnused(g)
	if c.groups[g.id] == g {
		g.persistConsumer()
	}
}

// deadline is the earliest session or rebalance deadline of cg's members.
func (cg *consumerGroup) deadline() time.Time {
	var next time.Time
	for _, m := range cg.members {
		for _, t := range []time.Time{m.expires, m.revokeBy} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// sortedMembers lists the members by id, for deterministic output.
func (cg *consumerGroup) sortedMembers() []*consumerMember {
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*consumerMember, len(ids))
	for i, id := range ids {
		out[i] = cg.members[id]
	}
	return out
}

// consumerSession is a consumer group's session timeout: its
// consumer.session.timeout.ms group config, else the broker's
// group.consumer.session.timeout.ms.
func (c *coordinator) consumerSession(group string) time.Duration {
	return c.groupDuration(group, "consumer.session.timeout.ms", c.cfg.settings.consumerSession)
}

// heartbeatInterval is a consumer group's heartbeat interval: its
// consumer.heartbeat.interval.ms group config, else the broker's.
func (c *coordinator) heartbeatInterval(group string) time.Duration {
	return c.groupDuration(group, "consumer.heartbeat.interval.ms", c.cfg.settings.heartbeatInterval)
}

// groupDuration reads a group config in milliseconds, def when the group
// has none (or, which validation prevents, one that is not positive).
func (c *coordinator) groupDuration(group, name string, def time.Duration) time.Duration {
	if c.cfg.groupConfig == nil {
		return def
	}
	v, ok := c.cfg.groupConfig(group, name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 1 {
		return def
	}
	return time.Duration(n) * time.Millisecond
}
