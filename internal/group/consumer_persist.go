package group

// Durability of KIP-848 consumer groups: after every step that changed a
// consumer group, persistConsumer writes the records of what changed —
// member metadata, subscribed topics, group epoch, target assignment and
// current member assignments — comparing the group with what its records
// last said (cg.saved). The records go out with the step's other records,
// before its replies. Replay rebuilds the group from the latest record per
// key; loadedConsumer then restarts its members' timers.

import (
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
)

// cgSaved is what a consumer group's records in the log say, to write only
// what changed and to tombstone exactly what exists.
type cgSaved struct {
	hasEpoch, hasTopics, hasTargetEpoch bool
	epoch, targetEpoch                  int32
	subscribed                          map[string]int32
	members                             map[string]*savedMember
}

type savedMember struct {
	hasMeta, hasTarget, hasCurrent bool
	meta                           cgMemberValue
	target                         tpSet
	current                        savedCurrent
}

type savedCurrent struct {
	epoch, prevEpoch   int32
	state              memberState
	assigned, revoking tpSet
}

func (s *cgSaved) member(id string) *savedMember {
	if s.members == nil {
		s.members = make(map[string]*savedMember)
	}
	sm := s.members[id]
	if sm == nil {
		sm = &savedMember{}
		s.members[id] = sm
	}
	return sm
}

// touch marks a member whose records may need writing.
func (cg *consumerGroup) touch(id string) {
	if id != "" {
		cg.dirty[id] = true
	}
}

func (m *consumerMember) metadataValue() cgMemberValue {
	v := cgMemberValue{instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, host: m.host,
		topicNames: m.topicNames, rebalanceTimeout: m.rebalanceTimeout}
	if m.regex != "" {
		v.regex = &m.regex
	}
	if m.assignor != "" {
		v.assignor = &m.assignor
	}
	return v
}

func sameString(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func (v *cgMemberValue) equal(o *cgMemberValue) bool {
	return sameString(v.instanceID, o.instanceID) && sameString(v.rackID, o.rackID) && v.clientID == o.clientID &&
		v.host == o.host && slices.Equal(v.topicNames, o.topicNames) && sameString(v.regex, o.regex) &&
		v.rebalanceTimeout == o.rebalanceTimeout && sameString(v.assignor, o.assignor)
}

func (m *consumerMember) currentSnapshot() savedCurrent {
	return savedCurrent{epoch: m.epoch, prevEpoch: m.prevEpoch, state: m.state, assigned: maps.Clone(m.assigned), revoking: maps.Clone(m.revoking)}
}

func (s *savedCurrent) equal(o *savedCurrent) bool {
	return s.epoch == o.epoch && s.prevEpoch == o.prevEpoch && s.state == o.state &&
		maps.Equal(s.assigned, o.assigned) && maps.Equal(s.revoking, o.revoking)
}

// emitConsumer queues one consumer group record; a nil value is a
// tombstone.
func (g *group) emitConsumer(kind int16, member string, value any) {
	key, val := consumerRecord{kind: kind, group: g.id, member: member, value: value}.encode()
	g.c.emit(record.Record{Key: key, Value: val})
}

// persistConsumer writes the records of what changed in g's consumer
// group since its records were last written, in Kafka's order: departed
// members' tombstones, member metadata, subscribed topics, group epoch,
// target assignment, then current assignments.
func (g *group) persistConsumer() {
	cg, s := g.cg, &g.cg.saved
	ids := make(map[string]bool, len(cg.dirty))
	maps.Copy(ids, cg.dirty)
	if cg.targetsDirty {
		for id := range cg.members {
			ids[id] = true
		}
	}
	sorted := slices.Sorted(maps.Keys(ids))
	clear(cg.dirty)
	cg.targetsDirty = false

	for _, id := range sorted {
		if sm := s.members[id]; sm != nil && cg.members[id] == nil {
			g.forgetMember(id, sm)
		}
	}
	for _, id := range sorted {
		m := cg.members[id]
		if m == nil {
			continue
		}
		v := m.metadataValue()
		if sm := s.member(id); !sm.hasMeta || !sm.meta.equal(&v) {
			g.emitConsumer(cgMemberKeyVersion, id, &v)
			sm.hasMeta, sm.meta = true, v
			sm.meta.topicNames = slices.Clone(v.topicNames)
		}
	}
	if !maps.Equal(s.subscribed, cg.subscribed) {
		v := &cgTopicsValue{}
		for _, t := range sortedNames(cg.subscribed) {
			if id, ok := g.c.topicIDOf(t); ok {
				v.topics = append(v.topics, cgTopicMetadata{id: id, name: t, partitions: cg.subscribed[t]})
			}
		}
		g.emitConsumer(cgPartitionMetadataKeyVersion, "", v)
		s.hasTopics, s.subscribed = true, maps.Clone(cg.subscribed)
	}
	if !s.hasEpoch || s.epoch != cg.epoch {
		g.emitConsumer(cgMetadataKeyVersion, "", &cgMetadataValue{epoch: cg.epoch})
		s.hasEpoch, s.epoch = true, cg.epoch
	}
	for _, id := range sorted {
		m := cg.members[id]
		if m == nil {
			continue
		}
		if sm := s.member(id); !sm.hasTarget || !maps.Equal(sm.target, m.target) {
			g.emitConsumer(cgTargetMemberKeyVersion, id, &cgTargetValue{partitions: byTopicID(m.target, g.c.topicIDOf)})
			sm.hasTarget, sm.target = true, maps.Clone(m.target)
		}
	}
	if !s.hasTargetEpoch || s.targetEpoch != cg.targetEpoch {
		g.emitConsumer(cgTargetMetadataKeyVersion, "", &cgTargetEpochValue{epoch: cg.targetEpoch})
		s.hasTargetEpoch, s.targetEpoch = true, cg.targetEpoch
	}
	for _, id := range sorted {
		m := cg.members[id]
		if m == nil {
			continue
		}
		cur := m.currentSnapshot()
		if sm := s.member(id); !sm.hasCurrent || !sm.current.equal(&cur) {
			g.emitConsumer(cgCurrentKeyVersion, id, &cgCurrentValue{epoch: m.epoch, prevEpoch: m.prevEpoch, state: int8(m.state),
				assigned: byTopicID(m.assigned, g.c.topicIDOf), revoking: byTopicID(m.revoking, g.c.topicIDOf)})
			sm.hasCurrent, sm.current = true, cur
		}
	}
}

// forgetMember tombstones a departed member's records.
func (g *group) forgetMember(id string, sm *savedMember) {
	if sm.hasCurrent {
		g.emitConsumer(cgCurrentKeyVersion, id, nil)
	}
	if sm.hasTarget {
		g.emitConsumer(cgTargetMemberKeyVersion, id, nil)
	}
	if sm.hasMeta {
		g.emitConsumer(cgMemberKeyVersion, id, nil)
	}
	delete(g.cg.saved.members, id)
}

// forgetConsumer tombstones every record of g's consumer group, which is
// going away (deleted, dropped or becoming a classic group).
func (g *group) forgetConsumer() {
	if g.cg == nil {
		return
	}
	s := &g.cg.saved
	for _, id := range slices.Sorted(maps.Keys(s.members)) {
		g.forgetMember(id, s.members[id])
	}
	if s.hasTargetEpoch {
		g.emitConsumer(cgTargetMetadataKeyVersion, "", nil)
	}
	if s.hasTopics {
		g.emitConsumer(cgPartitionMetadataKeyVersion, "", nil)
	}
	if s.hasEpoch {
		g.emitConsumer(cgMetadataKeyVersion, "", nil)
	}
	g.cg.saved = cgSaved{}
}

// replayConsumer applies one consumer group record. Any record but a
// tombstone makes the group a consumer group; a group metadata tombstone
// ends it (its members' tombstones come first).
func (c *coordinator) replayConsumer(rec consumerRecord) {
	g := c.groups[rec.group]
	if rec.value == nil && (g == nil || g.cg == nil) {
		return
	}
	if g == nil {
		g = c.getOrCreate(rec.group, time.Time{})
	}
	if g.cg == nil {
		// A consumer group replaces a classic one (whose tombstone came
		// first when written by this coordinator).
		g.members, g.static, g.leader, g.protocol = make(map[string]*member), make(map[string]string), "", ""
		g.hasMetadata, g.state, g.seq = false, stateEmpty, 0
		g.protocolType = "consumer"
		g.cg = newConsumerGroup()
	}
	cg, s := g.cg, &g.cg.saved
	switch v := rec.value.(type) {
	case nil:
		switch rec.kind {
		case cgMetadataKeyVersion:
			g.cg, g.protocolType = nil, ""
		case cgPartitionMetadataKeyVersion:
			cg.subscribed, s.hasTopics = map[string]int32{}, false
		case cgTargetMetadataKeyVersion:
			cg.targetEpoch, s.hasTargetEpoch = 0, false
		case cgMemberKeyVersion:
			delete(cg.members, rec.member)
			delete(s.members, rec.member)
		case cgTargetMemberKeyVersion:
			if m := cg.members[rec.member]; m != nil {
				m.target = tpSet{}
				s.member(rec.member).hasTarget = false
			}
		case cgCurrentKeyVersion:
			if m := cg.members[rec.member]; m != nil {
				m.epoch, m.prevEpoch, m.state, m.assigned, m.revoking = 0, 0, memberStable, tpSet{}, tpSet{}
				s.member(rec.member).hasCurrent = false
			}
		}
	case *cgMetadataValue:
		cg.epoch, s.hasEpoch = v.epoch, true
	case *cgTopicsValue:
		cg.subscribed, s.hasTopics = make(map[string]int32, len(v.topics)), true
		for _, t := range v.topics {
			cg.subscribed[t.name] = t.partitions
		}
	case *cgTargetEpochValue:
		cg.targetEpoch, s.hasTargetEpoch = v.epoch, true
	case *cgMemberValue:
		m := cg.replayMember(rec.member)
		m.instanceID, m.rackID, m.clientID, m.host = v.instanceID, v.rackID, v.clientID, v.host
		m.topicNames, m.rebalanceTimeout, m.regex, m.re, m.assignor = v.topicNames, v.rebalanceTimeout, "", nil, ""
		if v.regex != nil && *v.regex != "" {
			re, err := regexp.Compile("^(?:" + *v.regex + ")$")
			if err != nil {
				c.log.Warn("consumer group member regex does not compile", "group", g.id, "member", rec.member, "err", err)
			}
			m.regex, m.re = *v.regex, re
		}
		if v.assignor != nil {
			m.assignor = *v.assignor
		}
		s.member(rec.member).hasMeta = true
	case *cgTargetValue:
		cg.replayMember(rec.member).target = fromTopicIDs(v.partitions, c.topicName)
		s.member(rec.member).hasTarget = true
	case *cgCurrentValue:
		m := cg.replayMember(rec.member)
		m.epoch, m.prevEpoch, m.state = v.epoch, v.prevEpoch, memberState(v.state)
		if m.state < memberStable || m.state > memberUnreleased {
			c.log.Warn("consumer group member in an unknown state", "group", g.id, "member", rec.member, "state", v.state)
			m.state = memberStable
		}
		m.assigned, m.revoking = fromTopicIDs(v.assigned, c.topicName), fromTopicIDs(v.revoking, c.topicName)
		s.member(rec.member).hasCurrent = true
	}
}

// replayMember returns the member named id, adding it if new.
func (cg *consumerGroup) replayMember(id string) *consumerMember {
	m := cg.members[id]
	if m == nil {
		m = &consumerMember{id: id, assigned: tpSet{}, revoking: tpSet{}, target: tpSet{}, assignedAt: map[topicPartition]int32{}}
		cg.members[id] = m
	}
	return m
}

// loadedConsumer ends the replay of a consumer group: members without
// metadata (left over from a partial log) are dropped, the partition
// owners and static ids are rebuilt, and every member gets a full session
// from now (and a full rebalance timeout, if it must revoke partitions), as
// Kafka does on load. Partition epochs are not in the records: a restored
// member holds its partitions at its member epoch.
func (c *coordinator) loadedConsumer(now time.Time, g *group) {
	cg, s := g.cg, &g.cg.saved
	for id := range cg.members {
		if sm := s.members[id]; sm == nil || !sm.hasMeta {
			c.log.Warn("dropping consumer group member without metadata record", "group", g.id, "member", id)
			delete(cg.members, id)
			delete(s.members, id)
		}
	}
	cg.owners, cg.static = make(map[topicPartition]string), make(map[string]string)
	for _, m := range cg.sortedMembers() {
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
		for _, set := range []tpSet{m.assigned, m.revoking} {
			for tp := range set {
				if o := cg.owners[tp]; o != "" && o != m.id {
					c.log.Warn("consumer group partition owned by two members; keeping the first", "group", g.id,
						"topic", tp.topic, "partition", tp.partition, "member", m.id, "owner", o)
					delete(set, tp)
					continue
				}
				cg.owners[tp] = m.id
				m.assignedAt[tp] = m.epoch
			}
		}
		m.expires = now.Add(c.consumerSession(g.id))
		if m.state == memberUnrevoked {
			m.revokeBy = now.Add(time.Duration(m.rebalanceTimeout) * time.Millisecond)
		}
		sm := s.member(m.id)
		sm.meta, sm.target, sm.current = m.metadataValue(), maps.Clone(m.target), m.currentSnapshot()
		sm.meta.topicNames = slices.Clone(sm.meta.topicNames)
	}
	s.epoch, s.targetEpoch, s.subscribed = cg.epoch, cg.targetEpoch, maps.Clone(cg.subscribed)
	cg.assignor = cg.chooseAssignor(c.cfg.settings.assignors)
}
