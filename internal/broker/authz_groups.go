package broker

// ACL checks of the group APIs, made before the group coordinator sees a
// request, as Kafka's KafkaApis does (groups.go routes what is left):
//
//	JoinGroup, SyncGroup, Heartbeat,
//	LeaveGroup                        READ on the group
//	ConsumerGroupHeartbeat            READ on the group, DESCRIBE on each subscribed topic named
//	                                  (KAFKA-18813: one denied fails the heartbeat)
//	OffsetCommit                      READ on the group, READ on each topic
//	TxnOffsetCommit                   WRITE on the transactional id, READ on the group and each topic
//	OffsetFetch                       DESCRIBE on each group; topics not DESCRIBE-able are
//	                                  TOPIC_AUTHORIZATION_FAILED when named, left out when all
//	DescribeGroups                    DESCRIBE on each group
//	ConsumerGroupDescribe             DESCRIBE on each group, and on every topic its members
//	                                  subscribe to or are assigned (KAFKA-18813), else
//	                                  TOPIC_AUTHORIZATION_FAILED for the group
//	ListGroups                        DESCRIBE on the cluster, else only the groups it may DESCRIBE
//	DeleteGroups                      DELETE on each group
//	OffsetDelete                      DELETE on the group, READ on each topic
//
// A denied group answers GROUP_AUTHORIZATION_FAILED (per group where the
// API names several), a denied topic TOPIC_AUTHORIZATION_FAILED on each of
// its partitions; the rest of the request goes on.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/group"
)

// groupFinish completes the coordinator's answer to the part of a request
// that passed its checks (nil when no part did) with the denied parts.
type groupFinish func(kmsg.Response) kmsg.Response

func unchanged(resp kmsg.Response) kmsg.Response { return resp }

// authorizeGroupRequest checks a group API request. It returns the
// request to send the coordinator (nil: none) and how to finish the answer.
func (b *Broker) authorizeGroupRequest(r *Request) (kmsg.Request, groupFinish) {
	if b.cfg.Authorizer == nil || r.internal {
		return r.Msg, unchanged
	}
	switch req := r.Msg.(type) {
	case *kmsg.JoinGroupRequest:
		return b.groupOnly(r, kmsg.ACLOperationRead, req.Group)
	case *kmsg.SyncGroupRequest:
		return b.groupOnly(r, kmsg.ACLOperationRead, req.Group)
	case *kmsg.HeartbeatRequest:
		return b.groupOnly(r, kmsg.ACLOperationRead, req.Group)
	case *kmsg.LeaveGroupRequest:
		return b.groupOnly(r, kmsg.ACLOperationRead, req.Group)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return b.authorizeConsumerHeartbeat(r, req)
	case *kmsg.OffsetCommitRequest:
		return b.authorizeOffsetCommit(r, req)
	case *kmsg.TxnOffsetCommitRequest:
		return b.authorizeTxnOffsetCommit(r, req)
	case *kmsg.OffsetDeleteRequest:
		return b.authorizeOffsetDelete(r, req)
	case *kmsg.OffsetFetchRequest:
		return b.authorizeOffsetFetch(r, req)
	case *kmsg.DescribeGroupsRequest:
		return b.authorizeDescribeGroups(r, req)
	case *kmsg.ConsumerGroupDescribeRequest:
		return b.authorizeConsumerGroupDescribe(r, req)
	case *kmsg.DeleteGroupsRequest:
		return b.authorizeDeleteGroups(r, req)
	case *kmsg.ListGroupsRequest:
		return r.Msg, b.filterListGroups(r)
	}
	return r.Msg, unchanged
}

// denyWhole answers the whole request with code, asking no coordinator.
func denyWhole(req kmsg.Request, code int16) (kmsg.Request, groupFinish) {
	return nil, func(kmsg.Response) kmsg.Response { return group.ErrorResponse(req, code) }
}

// groupOnly checks op on the one group a request names.
func (b *Broker) groupOnly(r *Request, op kmsg.ACLOperation, groupID string) (kmsg.Request, groupFinish) {
	if !b.authorized(r, op, kmsg.ACLResourceTypeGroup, groupID) {
		return denyWhole(r.Msg, kerr.GroupAuthorizationFailed.Code)
	}
	return r.Msg, unchanged
}

// topicName is the name of a topic a request names by name or, in the
// versions that do, by ID; ok is false for an ID this node does not know
// (the coordinator answers it).
func (b *Broker) topicName(name string, id [16]byte, byID bool) (string, bool) {
	if !byID {
		return name, true
	}
	t, ok := b.meta.TopicByID(id)
	return t.Name, ok
}

func (b *Broker) authorizeOffsetCommit(r *Request, req *kmsg.OffsetCommitRequest) (kmsg.Request, groupFinish) {
	if !b.authorized(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		return denyWhole(req, kerr.GroupAuthorizationFailed.Code)
	}
	mayRead := b.authorizer(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
	kept, denied := splitTopics(req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool {
		name, ok := b.topicName(t.Topic, t.TopicID, req.Version >= 10)
		return !ok || mayRead(name)
	}, func(t kmsg.OffsetCommitRequestTopic) kmsg.OffsetCommitResponseTopic {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	})
	if len(denied) == 0 {
		return req, unchanged
	}
	sub := *req
	sub.Topics = kept
	return partial(&sub, len(kept) == 0, func(resp kmsg.Response) kmsg.Response {
		out := orBlank[*kmsg.OffsetCommitResponse](resp, req)
		out.Topics = append(out.Topics, denied...)
		return out
	})
}

// authorizeTxnOffsetCommit checks the transactional id, the group and the
// topics; TxnOffsetCommit (28_txn_offset_commit.go) calls it before its
// verification with the transaction coordinator.
func (b *Broker) authorizeTxnOffsetCommit(r *Request, req *kmsg.TxnOffsetCommitRequest) (kmsg.Request, groupFinish) {
	if !b.authorized(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		return denyWhole(req, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	if !b.authorized(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		return denyWhole(req, kerr.GroupAuthorizationFailed.Code)
	}
	mayRead := b.authorizer(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
	kept, denied := splitTopics(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return mayRead(t.Topic) },
		func(t kmsg.TxnOffsetCommitRequestTopic) kmsg.TxnOffsetCommitResponseTopic {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		})
	if len(denied) == 0 {
		return req, unchanged
	}
	sub := *req
	sub.Topics = kept
	return partial(&sub, len(kept) == 0, func(resp kmsg.Response) kmsg.Response {
		out := orBlank[*kmsg.TxnOffsetCommitResponse](resp, req)
		out.Topics = append(out.Topics, denied...)
		return out
	})
}

func (b *Broker) authorizeOffsetDelete(r *Request, req *kmsg.OffsetDeleteRequest) (kmsg.Request, groupFinish) {
	if !b.authorized(r, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		return denyWhole(req, kerr.GroupAuthorizationFailed.Code)
	}
	mayRead := b.authorizer(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
	kept, denied := splitTopics(req.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return mayRead(t.Topic) },
		func(t kmsg.OffsetDeleteRequestTopic) kmsg.OffsetDeleteResponseTopic {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		})
	if len(denied) == 0 {
		return req, unchanged
	}
	sub := *req
	sub.Topics = kept
	return partial(&sub, len(kept) == 0, func(resp kmsg.Response) kmsg.Response {
		out := orBlank[*kmsg.OffsetDeleteResponse](resp, req)
		out.Topics = append(out.Topics, denied...)
		return out
	})
}

// splitTopics divides a request's topics into those allowed lets through
// and the answers deny makes for the others.
func splitTopics[T, D any](topics []T, allowed func(T) bool, deny func(T) D) (kept []T, denied []D) {
	for _, t := range topics {
		if allowed(t) {
			kept = append(kept, t)
		} else {
			denied = append(denied, deny(t))
		}
	}
	return kept, denied
}

// partial sends sub, the allowed part of a request, to the coordinator,
// or nothing when that part is empty (as Kafka asks the coordinator
// nothing then); finish adds the denied part to the answer.
func partial(sub kmsg.Request, empty bool, finish groupFinish) (kmsg.Request, groupFinish) {
	if empty {
		return nil, finish
	}
	return sub, finish
}

// orBlank is the coordinator's answer as R, or a blank answer to req when
// the coordinator was not asked.
func orBlank[R kmsg.Response](resp kmsg.Response, req kmsg.Request) R {
	if out, ok := resp.(R); ok {
		return out
	}
	return req.ResponseKind().(R)
}

// mergeGroups answers each of names in order: the coordinator's answer
// (got, in the order of the allowed names) or denied(name).
func mergeGroups[G any](names []string, allowed func(string) bool, got []G, denied func(string) G) []G {
	out := make([]G, 0, len(names))
	for _, n := range names {
		if allowed(n) && len(got) > 0 {
			out = append(out, got[0])
			got = got[1:]
			continue
		}
		out = append(out, denied(n))
	}
	return out
}

// allowedNames are the names allowed, and whether any was denied.
func allowedNames(names []string, allowed func(string) bool) ([]string, bool) {
	var out []string
	for _, n := range names {
		if allowed(n) {
			out = append(out, n)
		}
	}
	return out, len(out) != len(names)
}

func (b *Broker) authorizeDescribeGroups(r *Request, req *kmsg.DescribeGroupsRequest) (kmsg.Request, groupFinish) {
	may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup)
	names, anyDenied := allowedNames(req.Groups, may)
	if !anyDenied {
		return req, unchanged
	}
	sub := *req
	sub.Groups = names
	finish := func(resp kmsg.Response) kmsg.Response {
		out := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		var got []kmsg.DescribeGroupsResponseGroup
		if resp != nil {
			got = resp.(*kmsg.DescribeGroupsResponse).Groups
		}
		out.Groups = mergeGroups(req.Groups, may, got, func(g string) kmsg.DescribeGroupsResponseGroup {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			return dg
		})
		return out
	}
	if len(names) == 0 {
		return nil, finish
	}
	return &sub, finish
}

func (b *Broker) authorizeConsumerHeartbeat(r *Request, req *kmsg.ConsumerGroupHeartbeatRequest) (kmsg.Request, groupFinish) {
	if !b.authorized(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		return denyWhole(req, kerr.GroupAuthorizationFailed.Code)
	}
	mayDescribe := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	for _, topic := range req.SubscribedTopicNames {
		if !mayDescribe(topic) {
			return denyWhole(req, kerr.TopicAuthorizationFailed.Code)
		}
	}
	return req, unchanged
}

// hideUndescribable answers TOPIC_AUTHORIZATION_FAILED, and nothing else,
// for a described consumer group one of whose topics the principal may not
// DESCRIBE, as Kafka (KAFKA-18813).
func hideUndescribable(g *kmsg.ConsumerGroupDescribeResponseGroup, mayDescribe func(string) bool) {
	if g.ErrorCode != 0 {
		return
	}
	denied := false
	for _, m := range g.Members {
		for _, topic := range m.SubscribedTopics {
			denied = denied || !mayDescribe(topic)
		}
		for _, a := range [2]kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				denied = denied || !mayDescribe(tp.Topic)
			}
		}
	}
	if denied {
		name := g.Group
		*g = kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group, g.ErrorCode = name, kerr.TopicAuthorizationFailed.Code
	}
}

func (b *Broker) authorizeConsumerGroupDescribe(r *Request, req *kmsg.ConsumerGroupDescribeRequest) (kmsg.Request, groupFinish) {
	may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup)
	mayDescribe := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	hide := func(resp *kmsg.ConsumerGroupDescribeResponse) kmsg.Response {
		for i := range resp.Groups {
			hideUndescribable(&resp.Groups[i], mayDescribe)
		}
		return resp
	}
	names, anyDenied := allowedNames(req.Groups, may)
	if !anyDenied {
		return req, func(resp kmsg.Response) kmsg.Response { return hide(resp.(*kmsg.ConsumerGroupDescribeResponse)) }
	}
	sub := *req
	sub.Groups = names
	finish := func(resp kmsg.Response) kmsg.Response {
		out := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		var got []kmsg.ConsumerGroupDescribeResponseGroup
		if resp != nil {
			got = resp.(*kmsg.ConsumerGroupDescribeResponse).Groups
		}
		out.Groups = mergeGroups(req.Groups, may, got, func(g string) kmsg.ConsumerGroupDescribeResponseGroup {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			return dg
		})
		return hide(out)
	}
	if len(names) == 0 {
		return nil, finish
	}
	return &sub, finish
}

func (b *Broker) authorizeDeleteGroups(r *Request, req *kmsg.DeleteGroupsRequest) (kmsg.Request, groupFinish) {
	may := b.authorizer(r, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup)
	names, anyDenied := allowedNames(req.Groups, may)
	if !anyDenied {
		return req, unchanged
	}
	sub := *req
	sub.Groups = names
	finish := func(resp kmsg.Response) kmsg.Response {
		out := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		var got []kmsg.DeleteGroupsResponseGroup
		if resp != nil {
			got = resp.(*kmsg.DeleteGroupsResponse).Groups
		}
		out.Groups = mergeGroups(req.Groups, may, got, func(g string) kmsg.DeleteGroupsResponseGroup {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			return dg
		})
		return out
	}
	if len(names) == 0 {
		return nil, finish
	}
	return &sub, finish
}

// filterListGroups leaves out of a ListGroups answer the groups the
// principal may not DESCRIBE, unless it may DESCRIBE the cluster.
func (b *Broker) filterListGroups(r *Request) groupFinish {
	if b.authorizedCluster(r, kmsg.ACLOperationDescribe) {
		return unchanged
	}
	may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup)
	return func(resp kmsg.Response) kmsg.Response {
		out := resp.(*kmsg.ListGroupsResponse)
		kept := out.Groups[:0]
		for _, g := range out.Groups {
			if may(g.Group) {
				kept = append(kept, g)
			}
		}
		out.Groups = kept
		return out
	}
}

// authorizeOffsetFetch checks DESCRIBE on each group; the topics of the
// groups allowed are filtered in the answer (hiddenOffsets): the
// coordinator's reading of offsets has no effect to prevent.
func (b *Broker) authorizeOffsetFetch(r *Request, req *kmsg.OffsetFetchRequest) (kmsg.Request, groupFinish) {
	mayDescribe := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	if req.Version < 8 {
		if !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, req.Group) {
			return denyWhole(req, kerr.GroupAuthorizationFailed.Code)
		}
		return req, func(resp kmsg.Response) kmsg.Response {
			out := resp.(*kmsg.OffsetFetchResponse)
			out.Topics = hiddenOffsets(out.Topics, req.Topics == nil, mayDescribe)
			return out
		}
	}
	may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup)
	sub := *req
	sub.Groups = nil
	var names []string
	for _, g := range req.Groups {
		names = append(names, g.Group)
		if may(g.Group) {
			sub.Groups = append(sub.Groups, g)
		}
	}
	finish := func(resp kmsg.Response) kmsg.Response {
		out := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		var got []kmsg.OffsetFetchResponseGroup
		if resp != nil {
			got = resp.(*kmsg.OffsetFetchResponse).Groups
		}
		out.Groups = mergeGroups(names, may, got, func(g string) kmsg.OffsetFetchResponseGroup {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			return rg
		})
		for i := range out.Groups {
			if g := &out.Groups[i]; g.ErrorCode != kerr.GroupAuthorizationFailed.Code {
				g.Topics = b.hiddenGroupOffsets(g.Topics, req.Groups[i].Topics == nil, req.Version >= 10, mayDescribe)
			}
		}
		return out
	}
	if len(sub.Groups) == 0 {
		return nil, finish
	}
	return &sub, finish
}

// hiddenOffsets applies Kafka's rule to an OffsetFetch v0–v7 answer: a
// topic the principal may not DESCRIBE is left out when all were asked
// for, else each of its partitions answers TOPIC_AUTHORIZATION_FAILED.
func hiddenOffsets(topics []kmsg.OffsetFetchResponseTopic, all bool, mayDescribe func(string) bool) []kmsg.OffsetFetchResponseTopic {
	kept := topics[:0]
	for _, t := range topics {
		if !mayDescribe(t.Topic) {
			if all {
				continue
			}
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, kmsg.StringPtr(""), kerr.TopicAuthorizationFailed.Code
			}
		}
		kept = append(kept, t)
	}
	return kept
}

// hiddenGroupOffsets is hiddenOffsets for one group of v8+.
func (b *Broker) hiddenGroupOffsets(topics []kmsg.OffsetFetchResponseGroupTopic, all, byID bool, mayDescribe func(string) bool) []kmsg.OffsetFetchResponseGroupTopic {
	kept := topics[:0]
	for _, t := range topics {
		if name, ok := b.topicName(t.Topic, t.TopicID, byID); ok && !mayDescribe(name) {
			if all {
				continue
			}
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, kmsg.StringPtr(""), kerr.TopicAuthorizationFailed.Code
			}
		}
		kept = append(kept, t)
	}
	return kept
}
