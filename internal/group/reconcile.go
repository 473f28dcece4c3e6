package group

// Target assignment and reconciliation of KIP-848 consumer groups, after
// Kafka's TargetAssignmentBuilder and CurrentAssignmentBuilder. The group
// keeps one invariant: a partition has at most one owner (cg.owners), the
// member that was told it holds it or must still release it. A member is
// given a partition of its target only once nobody else owns it.

import (
	"maps"
	"time"
)

// bumpEpoch advances the group epoch and computes the target assignment
// for it.
func (g *group) bumpEpoch(topics map[string]int32) {
	cg := g.cg
	cg.epoch++
	g.c.rebalanced()
	cg.targetsDirty = true
	cg.subscribed = cg.subscribedTopics(topics)
	cg.assignor = cg.chooseAssignor(g.c.cfg.settings.assignors)
	members := make([]assignMember, 0, len(cg.members))
	for _, m := range cg.members {
		members = append(members, assignMember{id: m.id, instanceID: m.instanceID, topics: m.subscribedTo(topics), previous: m.target})
	}
	var target map[string]tpSet
	if cg.assignor == assignorRange {
		target = assignRange(members, cg.subscribed)
	} else {
		target = assignUniform(members, cg.subscribed)
	}
	for id, m := range cg.members {
		m.target = target[id]
	}
	cg.targetEpoch = cg.epoch
}

// chooseAssignor is the assignor most members ask for, ties going to the
// one configured first; with none asked for, the first configured.
func (cg *consumerGroup) chooseAssignor(configured []string) string {
	votes := make(map[string]int)
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := ""
	for _, a := range configured {
		if best == "" || votes[a] > votes[best] {
			best = a
		}
	}
	return best
}

// subscribedTo lists the existing topics m subscribes to, by name or regex.
func (m *consumerMember) subscribedTo(topics map[string]int32) map[string]bool {
	out := make(map[string]bool)
	for _, t := range m.topicNames {
		if _, ok := topics[t]; ok {
			out[t] = true
		}
	}
	if m.re != nil {
		for t := range topics {
			if m.re.MatchString(t) {
				out[t] = true
			}
		}
	}
	return out
}

// subscribedTopics maps every topic some member subscribes to to its
// partition count.
func (cg *consumerGroup) subscribedTopics(topics map[string]int32) map[string]int32 {
	out := make(map[string]int32)
	for _, m := range cg.members {
		for t := range m.subscribedTo(topics) {
			out[t] = topics[t]
		}
	}
	return out
}

// topicsChanged reports whether a subscribed topic appeared, went or
// changed its partition count since the target was computed.
func (cg *consumerGroup) topicsChanged(topics map[string]int32) bool {
	return len(cg.members) > 0 && !maps.Equal(cg.subscribed, cg.subscribedTopics(topics))
}

// reconcile moves m one step towards its target, given the partitions it
// reports owning (nil: not reported). It reports whether m's assignment
// changed.
func (g *group) reconcile(now time.Time, m *consumerMember, owned tpSet) bool {
	cg := g.cg
	switch m.state {
	case memberStable:
		if m.epoch == cg.targetEpoch {
			return false
		}
	case memberUnrevoked:
		if owned == nil || owned.intersects(m.revoking) {
			return false
		}
	}
	return g.nextAssignment(now, m, owned)
}

// nextAssignment is Kafka's computeNextAssignment. Partitions leaving m
// are revoked first, at the same member epoch, if m may still hold them;
// then m advances to the target epoch with what it keeps and what nobody
// else owns of its target, waiting (unreleased) for the rest.
func (g *group) nextAssignment(now time.Time, m *consumerMember, owned tpSet) bool {
	cg := g.cg
	keep, revoke, add := tpSet{}, tpSet{}, tpSet{}
	for tp := range m.assigned {
		if m.target[tp] {
			keep[tp] = true
		} else {
			revoke[tp] = true
		}
	}
	unreleased := false
	for tp := range m.target {
		if m.assigned[tp] {
			continue
		}
		if o := cg.owners[tp]; o == "" || o == m.id {
			add[tp] = true
		} else {
			unreleased = true
		}
	}
	if len(revoke) > 0 && (owned == nil || owned.intersects(revoke)) {
		m.state = memberUnrevoked
		m.revokeBy = now.Add(time.Duration(m.rebalanceTimeout) * time.Millisecond)
		cg.setOwned(m, keep, revoke)
		return true
	}
	m.prevEpoch, m.epoch, m.revokeBy = m.epoch, cg.targetEpoch, time.Time{}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	for tp := range add {
		keep[tp] = true
		m.assignedAt[tp] = m.epoch
	}
	changed := len(revoke) > 0 || len(add) > 0
	cg.setOwned(m, keep, tpSet{})
	return changed
}

// setOwned replaces what m holds and must release, keeping cg.owners in
// step. Claiming a partition another member owns is a broken invariant.
func (cg *consumerGroup) setOwned(m *consumerMember, assigned, revoking tpSet) {
	for _, s := range []tpSet{m.assigned, m.revoking} {
		for tp := range s {
			if cg.owners[tp] == m.id {
				delete(cg.owners, tp)
			}
		}
	}
	for _, s := range []tpSet{assigned, revoking} {
		for tp := range s {
			if o := cg.owners[tp]; o != "" && o != m.id {
				panic("group: partition " + tp.topic + " given to two members")
			}
			cg.owners[tp] = m.id
		}
	}
	for tp := range m.assignedAt {
		if !assigned[tp] && !revoking[tp] {
			delete(m.assignedAt, tp)
		}
	}
	m.assigned, m.revoking = assigned, revoking
	cg.touch(m.id)
}
