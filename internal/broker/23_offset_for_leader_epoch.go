package broker

// OffsetForLeaderEpoch v0–v4 (KIP-101, KIP-320): for each partition, the
// largest leader epoch at or below the asked one and the offset where it
// ended in this log (the log end offset for the partition's latest epoch),
// as Kafka's Partition.lastOffsetForLeaderEpoch; consumers use it to find
// log truncation, followers to truncate. A CurrentLeaderEpoch (v2+) other
// than the partition's is refused (FENCED_LEADER_EPOCH below it,
// UNKNOWN_LEADER_EPOCH above). The answer is not bounded by the high
// watermark whatever the ReplicaID (v3+), as in Kafka. ACLs, as Kafka
// (whatever the ReplicaID): CLUSTER_ACTION on the cluster (a follower) or
// DESCRIBE on each topic (a consumer, KIP-320); other topics' partitions
// answer TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetForLeaderEpoch(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	mayDescribe := func(string) bool { return true }
	if !b.authorizedCluster(r, kmsg.ACLOperationClusterAction) {
		mayDescribe = b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	}
	for _, rt := range req.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		allowed := mayDescribe(rt.Topic)
		for _, rp := range rt.Partitions {
			if !allowed {
				p := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				p.Partition, p.LeaderEpoch, p.EndOffset = rp.Partition, -1, -1
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
				ot.Partitions = append(ot.Partitions, p)
				continue
			}
			ot.Partitions = append(ot.Partitions, b.offsetForLeaderEpoch(rt.Topic, rp))
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return respond(resp)
}

func (b *Broker) offsetForLeaderEpoch(topic string, rp kmsg.OffsetForLeaderEpochRequestTopicPartition) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
	out.Partition, out.LeaderEpoch, out.EndOffset = rp.Partition, -1, -1
	l, err := b.partition(topic, rp.Partition)
	if err == nil {
		err = l.Offline()
	}
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	end, err := l.LastOffsetForEpoch(rp.CurrentLeaderEpoch, rp.LeaderEpoch)
	out.ErrorCode, out.LeaderEpoch, out.EndOffset = errorCode(err), end.Epoch, end.EndOffset
	return out
}
