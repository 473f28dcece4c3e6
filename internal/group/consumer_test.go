package group

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Test topics are named by their ids: the name's bytes, zero padded.
func testTopicID(topic string) ([16]byte, bool) {
	var id [16]byte
	copy(id[:], topic)
	return id, true
}

func testTopicName(id [16]byte) (string, bool) {
	name := string(bytes.TrimRight(id[:], "\x00"))
	return name, name != ""
}

// consumerHeartbeatRequest builds a ConsumerGroupHeartbeat: cg-join is a
// full epoch-0 request, cg-hb a keepalive unless full is given (owned=
// sends Topics, "owned=none" an empty list), cg-leave epoch -1 (or
// epoch=-2).
func consumerHeartbeatRequest(td *datadriven.TestData) kmsg.Request {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = int16(intArg(td, "v", 1))
	r.Group, r.MemberID = strArg(td, "group", "g"), strArg(td, "member", "")
	r.RebalanceTimeoutMillis = -1
	if td.HasArg("instance") {
		r.InstanceID = kmsg.StringPtr(strArg(td, "instance", ""))
	}
	full := td.Cmd == "cg-join" || td.HasArg("full")
	switch td.Cmd {
	case "cg-join":
		r.MemberEpoch = 0
	case "cg-hb":
		r.MemberEpoch = int32(intArg(td, "epoch", 1))
	case "cg-leave":
		r.MemberEpoch = int32(intArg(td, "epoch", -1))
	}
	if full {
		r.RebalanceTimeoutMillis = int32(intArg(td, "rebalance", 30000))
		if td.HasArg("regex") {
			r.SubscribedTopicRegex = kmsg.StringPtr(strArg(td, "regex", ""))
		} else {
			r.SubscribedTopicNames = listArg(td, "topics", "t")
		}
		if td.HasArg("assignor") {
			r.ServerAssignor = kmsg.StringPtr(strArg(td, "assignor", ""))
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if td.HasArg("owned") {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, tp := range listArg(td, "owned", "") {
			if tp == "none" {
				continue
			}
			topic, ps, _ := strings.Cut(tp, "/")
			p, _ := strconv.Atoi(ps)
			id, _ := testTopicID(topic)
			if n := len(r.Topics); n == 0 || r.Topics[n-1].TopicID != id {
				t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				t.TopicID = id
				r.Topics = append(r.Topics, t)
			}
			r.Topics[len(r.Topics)-1].Partitions = append(r.Topics[len(r.Topics)-1].Partitions, int32(p))
		}
	}
	return r
}

// partitionList prints topic partitions as t/0,1 u/2.
func partitionList(parts func(yield func(topic string, ps []int32))) string {
	var out []string
	parts(func(topic string, ps []int32) {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = strconv.Itoa(int(p))
		}
		out = append(out, topic+"/"+strings.Join(s, ","))
	})
	return "[" + strings.Join(out, " ") + "]"
}

func describeConsumerHeartbeat(r *kmsg.ConsumerGroupHeartbeatResponse) string {
	s := "cg-hb " + errName(r.ErrorCode)
	if r.ErrorMessage != nil {
		s += fmt.Sprintf(" (%s)", *r.ErrorMessage)
	}
	if r.MemberID != nil {
		s += fmt.Sprintf(" member=%s epoch=%d", *r.MemberID, r.MemberEpoch)
	}
	if r.Assignment != nil {
		s += " assigned=" + partitionList(func(yield func(string, []int32)) {
			for _, t := range r.Assignment.Topics {
				name, _ := testTopicName(t.TopicID)
				yield(name, t.Partitions)
			}
		})
	}
	return s
}

func describeConsumerGroups(r *kmsg.ConsumerGroupDescribeResponse) string {
	var lines []string
	for _, g := range r.Groups {
		if g.ErrorCode != 0 {
			lines = append(lines, fmt.Sprintf("cg-describe %s %s", g.Group, errName(g.ErrorCode)))
			continue
		}
		lines = append(lines, fmt.Sprintf("cg-describe %s %s state=%s epoch=%d target-epoch=%d assignor=%s",
			g.Group, errName(g.ErrorCode), g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName))
		for _, m := range g.Members {
			s := fmt.Sprintf("  %s epoch=%d", m.MemberID, m.MemberEpoch)
			if m.InstanceID != nil {
				s += " instance=" + *m.InstanceID
			}
			if m.SubscribedTopicRegex != nil {
				s += " regex=" + *m.SubscribedTopicRegex
			} else {
				s += " topics=" + strings.Join(m.SubscribedTopics, ",")
			}
			s += " assigned=" + assignmentList(m.Assignment) + " target=" + assignmentList(m.TargetAssignment)
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

func assignmentList(a kmsg.Assignment) string {
	return partitionList(func(yield func(string, []int32)) {
		for _, t := range a.TopicPartitions {
			yield(t.Topic, t.Partitions)
		}
	})
}
