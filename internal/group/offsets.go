package group

// OffsetCommit v2–v10, OffsetFetch v1–v10 (v8+ several groups), and
// OffsetDelete v0. v10 names topics by id, resolved with Config.TopicName.
// Not implemented: the v2–v4 retention time (ignored, as Kafka 2.1+
// ignores it for current clients).

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type topicPartition struct {
	topic     string
	partition int32
}

// offsetEntry is a committed offset. expireTime is -1 unless the record
// was written with Kafka's v1 value and its explicit expiry.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // unix ms
	expireTime  int64 // unix ms, or -1
	order       int64 // coordinator.commitSeq when committed: which is later
}

func (c *coordinator) commit(now time.Time, r *kmsg.OffsetCommitRequest) kmsg.Response {
	g := c.groups[r.Group]
	if g == nil {
		if r.Generation >= 0 {
			return offsetCommitError(r, kerr.IllegalGeneration.Code)
		}
		g = c.getOrCreate(r.Group, now)
	}
	defer c.dropIfUnused(g)
	var stale func(topicPartition) bool
	if g.cg != nil {
		var code int16
		if code, stale = g.cg.checkCommit(r); code != 0 {
			return offsetCommitError(r, code)
		}
	} else if code := g.checkCommit(r); code != 0 {
		return offsetCommitError(r, code)
	}
	if m := g.members[r.MemberID]; m != nil && m.join == nil && m.sync == nil {
		m.expires = now.Add(m.session())
		defer c.schedule(g)
	}
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		topic, ok := c.topicOf(r.Version >= 10, t.Topic, t.TopicID)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{topic, p.Partition}
			switch {
			case !ok:
				rp.ErrorCode = kerr.UnknownTopicID.Code
			default:
				rp.ErrorCode = c.checkOffset(tp, p.Metadata, stale)
			}
			if rp.ErrorCode == 0 {
				e := c.newOffset(now, p.Offset, p.LeaderEpoch, p.Metadata)
				g.offsets[tp] = e
				c.emit(offsetRecord(g.id, tp, e))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// topicOf names a request's topic: by id from v10, by name before.
func (c *coordinator) topicOf(byID bool, name string, id [16]byte) (string, bool) {
	if !byID {
		return name, true
	}
	if c.cfg.topicName == nil {
		return "", false
	}
	return c.cfg.topicName(id)
}

// checkCommit is Kafka's commit validation: generation -1 with no member
// is a simple commit, allowed only while the group has no members;
// anything else must come from a current member of this generation.
func (g *group) checkCommit(r *kmsg.OffsetCommitRequest) int16 {
	if r.Generation >= 0 || r.MemberID != "" || r.InstanceID != nil {
		if code := g.validate(r.MemberID, r.InstanceID, r.Generation); code != 0 {
			return code
		}
		if g.state == stateCompletingRebalance {
			return kerr.RebalanceInProgress.Code
		}
		return 0
	}
	if len(g.members) > 0 {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// checkOffset is the error code, if any, of committing tp's offset with
// metadata; stale (nil for none) tells a consumer group member's partitions
// it may no longer commit.
func (c *coordinator) checkOffset(tp topicPartition, metadata *string, stale func(topicPartition) bool) int16 {
	switch {
	case !c.cfg.partitionExists(tp.topic, tp.partition):
		return kerr.UnknownTopicOrPartition.Code
	case metadata != nil && len(*metadata) > c.cfg.settings.maxMetadataSize:
		return kerr.OffsetMetadataTooLarge.Code
	case stale != nil && stale(tp):
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// newOffset is an offset committed now, ordered after every commit so far.
func (c *coordinator) newOffset(now time.Time, offset int64, leaderEpoch int32, metadata *string) *offsetEntry {
	e := &offsetEntry{offset: offset, leaderEpoch: leaderEpoch, commitTime: now.UnixMilli(), expireTime: -1}
	if metadata != nil {
		e.metadata = *metadata
	}
	c.order(e)
	return e
}

// order stamps e as the latest commit: of two offsets of a partition, the
// one committed (or replayed) later wins.
func (c *coordinator) order(e *offsetEntry) {
	c.commitSeq++
	e.order = c.commitSeq
}

func (g *group) deleteOffset(tp topicPartition) {
	g.c.dropPendingTxn(g.id, tp)
	if _, ok := g.offsets[tp]; ok {
		delete(g.offsets, tp)
		g.c.emit(offsetRecord(g.id, tp, nil))
	}
}

func (c *coordinator) fetch(r *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version >= 8 {
		for _, rg := range r.Groups {
			resp.Groups = append(resp.Groups, c.fetchGroup(r.Version, r.RequireStable, rg))
		}
		return resp
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = r.Group
	if r.Topics != nil {
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
	}
	for _, t := range r.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		rg.Topics = append(rg.Topics, gt)
	}
	out := c.fetchGroup(r.Version, r.RequireStable, rg)
	resp.ErrorCode = out.ErrorCode
	for _, t := range out.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetchGroup answers one group's OffsetFetch; an unknown group or
// partition has offset -1 and no error. Nil topics means every offset.
// With requireStable (v7+), a partition whose offset is pending in an open
// transaction answers UNSTABLE_OFFSET_COMMIT, which clients retry.
func (c *coordinator) fetchGroup(version int16, requireStable bool, rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	g := c.groups[rg.Group]
	if g != nil && g.cg != nil && version >= 9 {
		if out.ErrorCode = g.cg.checkFetch(rg); out.ErrorCode != 0 {
			return out
		}
	}
	unstable := func(op *kmsg.OffsetFetchResponseGroupTopicPartition, tp topicPartition) {
		if requireStable && version >= 7 && c.hasPendingTxn(rg.Group, &tp) {
			op.Offset, op.LeaderEpoch, op.Metadata, op.ErrorCode = -1, -1, kmsg.StringPtr(""), kerr.UnstableOffsetCommit.Code
		}
	}
	if rg.Topics == nil {
		if g != nil {
			out.Topics = c.allOffsets(version, g)
			for i := range out.Topics {
				for j := range out.Topics[i].Partitions {
					op := &out.Topics[i].Partitions[j]
					unstable(op, topicPartition{out.Topics[i].Topic, op.Partition})
				}
			}
		}
		return out
	}
	for _, t := range rg.Topics {
		ot := kmsg.NewOffsetFetchResponseGroupTopic()
		ot.Topic, ot.TopicID = t.Topic, t.TopicID
		topic, ok := c.topicOf(version >= 10, t.Topic, t.TopicID)
		for _, p := range t.Partitions {
			op := offsetAnswer(g, topicPartition{topic, p})
			unstable(&op, topicPartition{topic, p})
			if !ok {
				op.ErrorCode = kerr.UnknownTopicID.Code
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		out.Topics = append(out.Topics, ot)
	}
	return out
}

func offsetAnswer(g *group, tp topicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
	op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	op.Partition, op.Offset, op.Metadata = tp.partition, -1, kmsg.StringPtr("")
	if g == nil {
		return op
	}
	if e := g.offsets[tp]; e != nil {
		op.Offset, op.LeaderEpoch, op.Metadata = e.offset, e.leaderEpoch, kmsg.StringPtr(e.metadata)
	}
	return op
}

// allOffsets lists g's offsets by topic and partition.
func (c *coordinator) allOffsets(version int16, g *group) []kmsg.OffsetFetchResponseGroupTopic {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTP)
	var out []kmsg.OffsetFetchResponseGroupTopic
	for _, tp := range tps {
		if len(out) == 0 || out[len(out)-1].Topic != tp.topic {
			ot := kmsg.NewOffsetFetchResponseGroupTopic()
			ot.Topic = tp.topic
			if version >= 10 && c.cfg.topicID != nil {
				ot.TopicID, _ = c.cfg.topicID(tp.topic)
			}
			out = append(out, ot)
		}
		last := &out[len(out)-1]
		last.Partitions = append(last.Partitions, offsetAnswer(g, tp))
	}
	return out
}

func compareTP(a, b topicPartition) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return int(a.partition) - int(b.partition)
}

// offsetDelete is Kafka's OffsetDelete: an Empty group loses the offsets;
// a consumer group with members keeps those of topics it subscribes to.
func (c *coordinator) offsetDelete(r *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := c.groups[r.Group]
	switch {
	case r.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case !g.empty() && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	subscribed, known := g.subscribedTopics()
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !c.cfg.partitionExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !g.empty() && (!known || subscribed[t.Topic]):
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				g.deleteOffset(topicPartition{t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// subscribedTopics decodes the members' consumer-protocol subscriptions
// for the chosen protocol; known is false if any cannot be read, which
// Kafka treats as subscribed to everything.
func (g *group) subscribedTopics() (topics map[string]bool, known bool) {
	if g.cg != nil {
		return g.cg.subscribedTopicNames(g.c.topics()), true
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	topics = make(map[string]bool)
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// expireOffsets is Kafka's offset expiry (KIP-211), run every
// offsets.retention.check.interval.ms: an Empty group's offsets expire
// offsets.retention.minutes after it emptied; a Stable consumer group's
// offsets of topics it no longer subscribes to, and a simple group's
// offsets, that long after their commit. An Empty group left without
// offsets is deleted.
func (c *coordinator) expireOffsets(now time.Time) {
	for _, g := range c.sortedGroups() {
		g.expireOffsets(now)
		if g.empty() && len(g.offsets) == 0 && len(g.pending) == 0 && !c.hasPendingTxn(g.id, nil) {
			g.forgetConsumer()
			c.emit(groupRecord(g.id, nil))
			delete(c.groups, g.id)
		}
	}
}

func (g *group) expireOffsets(now time.Time) {
	retention := g.c.cfg.settings.retention.Milliseconds()
	nowMs := now.UnixMilli()
	var base func(*offsetEntry) int64
	var keep map[string]bool
	switch {
	case g.cg != nil:
		// Kafka keeps a consumer group's offsets of subscribed topics;
		// the others expire from their commit.
		keep, _ = g.subscribedTopics()
		base = func(e *offsetEntry) int64 { return e.commitTime }
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(e *offsetEntry) int64 {
			if g.stateSince.IsZero() {
				return e.commitTime
			}
			return g.stateSince.UnixMilli()
		}
	case g.protocolType == "consumer" && g.state == stateStable:
		var known bool
		if keep, known = g.subscribedTopics(); !known {
			return
		}
		base = func(e *offsetEntry) int64 { return e.commitTime }
	case g.protocolType == "":
		base = func(e *offsetEntry) int64 { return e.commitTime }
	default:
		return
	}
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp, e := range g.offsets {
		expired := nowMs-base(e) >= retention
		if e.expireTime >= 0 {
			expired = nowMs >= e.expireTime
		}
		if expired && !keep[tp.topic] {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, compareTP)
	for _, tp := range tps {
		g.deleteOffset(tp)
	}
}
