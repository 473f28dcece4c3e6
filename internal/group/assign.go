package group

// The server-side assignors of KIP-848 consumer groups. Both are pure
// functions of the members' subscriptions and the topics' partition counts,
// so every coordinator computes the same target from the same inputs.

import (
	"cmp"
	"maps"
	"slices"
)

// Assignor names, as clients send them in ServerAssignor.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// tpSet is a set of topic partitions.
type tpSet map[topicPartition]bool

// sorted lists s by topic and partition.
func (s tpSet) sorted() []topicPartition {
	out := slices.Collect(maps.Keys(s))
	slices.SortFunc(out, compareTP)
	return out
}

// intersects reports whether s and o share a partition.
func (s tpSet) intersects(o tpSet) bool {
	for tp := range s {
		if o[tp] {
			return true
		}
	}
	return false
}

// subsetOf reports whether every partition of s is in o.
func (s tpSet) subsetOf(o tpSet) bool {
	for tp := range s {
		if !o[tp] {
			return false
		}
	}
	return true
}

// assignMember is what an assignor knows of a member.
type assignMember struct {
	id         string
	instanceID *string
	topics     map[string]bool // subscribed topics that exist
	previous   tpSet           // the member's current target, kept where possible
}

// allPartitions lists every partition of the topics in partitions, sorted.
func allPartitions(partitions map[string]int32) []topicPartition {
	var out []topicPartition
	for _, t := range slices.Sorted(maps.Keys(partitions)) {
		for p := range partitions[t] {
			out = append(out, topicPartition{t, p})
		}
	}
	return out
}

// assignUniform spreads partitions so that the members able to take a
// partition differ by at most one in how many they hold, keeping each
// partition where it was when that allows: moving one costs a revocation
// round trip. Members are ordered by id, so the result is deterministic.
func assignUniform(members []assignMember, partitions map[string]int32) map[string]tpSet {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b assignMember) int { return cmp.Compare(a.id, b.id) })
	out := make(map[string]tpSet, len(ms))
	for _, m := range ms {
		out[m.id] = tpSet{}
	}
	owner := make(map[topicPartition]string)
	for _, m := range ms {
		for _, tp := range m.previous.sorted() {
			if m.topics[tp.topic] && tp.partition < partitions[tp.topic] && owner[tp] == "" {
				owner[tp] = m.id
				out[m.id][tp] = true
			}
		}
	}
	all := allPartitions(partitions)
	leastLoaded := func(tp topicPartition) string {
		best := ""
		for _, m := range ms {
			if m.topics[tp.topic] && (best == "" || len(out[m.id]) < len(out[best])) {
				best = m.id
			}
		}
		return best
	}
	for _, tp := range all {
		if owner[tp] == "" {
			if b := leastLoaded(tp); b != "" {
				owner[tp] = b
				out[b][tp] = true
			}
		}
	}
	// Even out: each move lowers the sum of squared loads, so this ends.
	for moved := true; moved; {
		moved = false
		for _, tp := range all {
			a, b := owner[tp], leastLoaded(tp)
			if a != "" && b != "" && len(out[b]) < len(out[a])-1 {
				delete(out[a], tp)
				out[b][tp] = true
				owner[tp] = b
				moved = true
			}
		}
	}
	return out
}

// assignRange is the range assignor: each topic's partitions are split in
// contiguous ranges over the members subscribed to it, static members
// first (by instance id), then dynamic ones (by member id), the first
// members taking one extra when the split is uneven.
func assignRange(members []assignMember, partitions map[string]int32) map[string]tpSet {
	ms := slices.Clone(members)
	slices.SortFunc(ms, compareRangeOrder)
	out := make(map[string]tpSet, len(ms))
	for _, m := range ms {
		out[m.id] = tpSet{}
	}
	for _, t := range slices.Sorted(maps.Keys(partitions)) {
		var subs []string
		for _, m := range ms {
			if m.topics[t] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := partitions[t]
		per, extra := n/int32(len(subs)), n%int32(len(subs))
		var p int32
		for i, id := range subs {
			count := per
			if int32(i) < extra {
				count++
			}
			for range count {
				out[id][topicPartition{t, p}] = true
				p++
			}
		}
	}
	return out
}

func compareRangeOrder(a, b assignMember) int {
	switch {
	case a.instanceID != nil && b.instanceID != nil:
		return cmp.Compare(*a.instanceID, *b.instanceID)
	case a.instanceID != nil:
		return -1
	case b.instanceID != nil:
		return 1
	}
	return cmp.Compare(a.id, b.id)
}
