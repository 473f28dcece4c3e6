package group

// ConsumerGroupDescribe v0–v1, and what the other group APIs do with
// KIP-848 consumer groups: DescribeGroups and ListGroups show them as
// protocol type "consumer" (ListGroups v5 type "consumer"), OffsetCommit
// (v9+ for members) and OffsetFetch (v9+) check the member epoch.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is the consumer group state, named as Kafka names it. The target
// is computed as soon as the epoch moves, so a group is never Assigning.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	for _, m := range cg.members {
		if m.epoch != epochStaticLeave && (m.epoch != cg.targetEpoch || m.state != memberStable) {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (c *coordinator) consumerDescribe(r *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range r.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.AuthorizedOperations = id, math.MinInt32 // the broker fills it in
		g := c.groups[id]
		switch {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil || g.cg == nil:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found or not a consumer group.")
		default:
			c.describeConsumer(g.cg, &dg)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *coordinator) describeConsumer(cg *consumerGroup, dg *kmsg.ConsumerGroupDescribeResponseGroup) {
	dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.state(), cg.epoch, cg.targetEpoch, cg.assignor
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
		dm.ClientID, dm.ClientHost, dm.MemberType = m.clientID, m.host, 1 // consumer protocol
		dm.SubscribedTopics = append([]string{}, m.topicNames...)
		if m.regex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		}
		dm.Assignment, dm.TargetAssignment = c.describeAssignment(m.assigned), c.describeAssignment(m.target)
		dg.Members = append(dg.Members, dm)
	}
}

func (c *coordinator) describeAssignment(s tpSet) kmsg.Assignment {
	a := kmsg.NewAssignment()
	for _, tp := range s.sorted() {
		if n := len(a.TopicPartitions); n == 0 || a.TopicPartitions[n-1].Topic != tp.topic {
			t := kmsg.NewAssignmentTopicPartition()
			t.Topic = tp.topic
			t.TopicID, _ = c.topicIDOf(tp.topic)
			a.TopicPartitions = append(a.TopicPartitions, t)
		}
		last := &a.TopicPartitions[len(a.TopicPartitions)-1]
		last.Partitions = append(last.Partitions, tp.partition)
	}
	return a
}

// describeClassic is a consumer group as DescribeGroups shows it: the
// assignor as protocol, and each member's subscription and assignment in
// the classic consumer protocol's encoding.
func (cg *consumerGroup) describeClassic(dg *kmsg.DescribeGroupsResponseGroup) {
	dg.State, dg.ProtocolType, dg.Protocol = cg.state(), "consumer", cg.assignor
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.host
		md := kmsg.NewConsumerMemberMetadata()
		md.Topics = append([]string{}, m.topicNames...)
		dm.ProtocolMetadata = md.AppendTo(nil)
		ma := kmsg.NewConsumerMemberAssignment()
		for _, tp := range m.assigned.sorted() {
			if n := len(ma.Topics); n == 0 || ma.Topics[n-1].Topic != tp.topic {
				t := kmsg.NewConsumerMemberAssignmentTopic()
				t.Topic = tp.topic
				ma.Topics = append(ma.Topics, t)
			}
			last := &ma.Topics[len(ma.Topics)-1]
			last.Partitions = append(last.Partitions, tp.partition)
		}
		dm.MemberAssignment = ma.AppendTo(nil)
		dg.Members = append(dg.Members, dm)
	}
}

// checkCommit is Kafka's offset commit check for consumer groups, relaxed
// as KIP-1251 relaxes it: with no members a commit without member epoch
// (an admin's) is accepted; otherwise the member must exist, use
// OffsetCommit v9+ and not be ahead of the coordinator. The returned
// function rejects, per partition, a commit at an older epoch than the
// one the partition was given to the member at (or of a partition it does
// not hold).
func (cg *consumerGroup) checkCommit(r *kmsg.OffsetCommitRequest) (int16, func(topicPartition) bool) {
	active := 0
	for _, m := range cg.members {
		if m.epoch != epochStaticLeave {
			active++
		}
	}
	if r.Generation < 0 && active == 0 {
		return 0, nil
	}
	m := cg.members[r.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code, nil
	case r.Version < 9:
		return kerr.UnsupportedVersion.Code, nil
	case r.Generation > m.epoch:
		return kerr.StaleMemberEpoch.Code, nil
	case r.Generation == m.epoch:
		return 0, nil
	}
	return 0, func(tp topicPartition) bool {
		at, ok := m.assignedAt[tp]
		return !ok || r.Generation < at
	}
}

// checkFetch is Kafka's offset fetch check for consumer groups (v9+): a
// request naming a member must come from a current member at its epoch.
func (cg *consumerGroup) checkFetch(rg kmsg.OffsetFetchRequestGroup) int16 {
	if rg.MemberID == nil || (*rg.MemberID == "" && rg.MemberEpoch < 0) {
		return 0
	}
	m := cg.members[*rg.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case rg.MemberEpoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// subscribedTopicNames is every topic a member subscribes to, for offset
// expiry and OffsetDelete.
func (cg *consumerGroup) subscribedTopicNames(topics map[string]int32) map[string]bool {
	out := make(map[string]bool)
	for _, m := range cg.members {
		for _, t := range m.topicNames {
			out[t] = true
		}
		for t := range m.subscribedTo(topics) {
			out[t] = true
		}
	}
	return out
}
