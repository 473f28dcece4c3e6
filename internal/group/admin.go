package group

// DescribeGroups v0–v6, ListGroups v0–v5 (v4 states filter, v5 types
// filter: "classic" or "consumer"), DeleteGroups v0–v3. Authorized
// operations are left at INT32_MIN: the broker, which authorizes, fills
// them in.

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *coordinator) describe(r *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.State = id, stateDead.String()
		if g := c.groups[id]; g != nil {
			g.describe(&dg)
		} else if r.Version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// describe is Kafka's group summary: protocol, metadata and assignments
// only while Stable.
func (g *group) describe(dg *kmsg.DescribeGroupsResponseGroup) {
	if g.cg != nil {
		g.cg.describeClassic(dg)
		return
	}
	dg.State, dg.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.host
		if stable {
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadataFor(g.protocol), m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
}

func (c *coordinator) list(r *kmsg.ListGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, g := range c.sortedGroups() {
		state, typ := g.state.String(), "classic"
		if g.cg != nil {
			state, typ = g.cg.state(), "consumer"
		}
		if !matches(r.StatesFilter, state) || !matches(r.TypesFilter, typ) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, state, typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// deleteGroups deletes Empty groups with their offsets.
func (c *coordinator) deleteGroups(r *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range r.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		g := c.groups[id]
		switch {
		case g == nil:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		case !g.empty():
			dg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			g.deleteAll()
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// deleteAll tombstones g's offsets and metadata and forgets g.
func (g *group) deleteAll() {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTP)
	for _, tp := range tps {
		g.deleteOffset(tp)
	}
	g.forgetConsumer()
	g.c.emit(groupRecord(g.id, nil))
	delete(g.c.groups, g.id)
}

// replayOffset applies an offset record (nil: tombstone).
func (c *coordinator) replayOffset(groupID string, tp topicPartition, v *kmsg.OffsetCommitValue) {
	if v == nil {
		c.dropPendingTxn(groupID, tp)
		if g := c.groups[groupID]; g != nil {
			delete(g.offsets, tp)
		}
		return
	}
	g := c.getOrCreate(groupID, time.Time{})
	e := replayedEntry(v)
	c.order(e)
	g.offsets[tp] = e
}

// replayedEntry is the offset an OffsetCommitValue record holds.
func replayedEntry(v *kmsg.OffsetCommitValue) *offsetEntry {
	e := &offsetEntry{offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata, commitTime: v.CommitTimestamp, expireTime: -1}
	if v.Version < 3 {
		e.leaderEpoch = -1
	}
	if v.Version == 1 {
		e.expireTime = v.ExpireTimestamp
	}
	return e
}

// replayGroup applies a group metadata record (nil: tombstone, which
// leaves any offsets recorded later).
func (c *coordinator) replayGroup(groupID string, v *kmsg.GroupMetadataValue) {
	g := c.getOrCreate(groupID, time.Time{})
	if v == nil && g.cg != nil {
		return // the consumer group's own tombstones end it
	}
	g.cg = nil // a classic group replaces a consumer group
	g.members, g.static, g.leader, g.protocol, g.protocolType = make(map[string]*member), make(map[string]string), "", "", ""
	g.hasMetadata, g.state, g.stateSince, g.seq = false, stateEmpty, time.Time{}, 0
	if v == nil {
		return
	}
	g.hasMetadata, g.protocolType, g.generation = true, v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.Version >= 2 && v.CurrentStateTimestamp >= 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		g.seq++
		m := &member{id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, host: vm.ClientHost,
			rebalanceTimeout: vm.RebalanceTimeoutMillis, sessionTimeout: vm.SessionTimeoutMillis,
			protocolType: v.ProtocolType, assignment: vm.Assignment, seq: g.seq,
			protocols: []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}}}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
}
