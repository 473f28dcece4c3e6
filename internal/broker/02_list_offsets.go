package broker

// ListOffsets v1–v11: earliest (-2), latest (-1, the high watermark, which
// is also the last stable offset while there are no transactions), max
// timestamp (-3, KIP-734), earliest local (-4, the log start: all data is
// local) and latest tiered (-5, none: offset -1), and by timestamp. The
// leader epoch is the partition's (0 until replication exists); a
// CurrentLeaderEpoch (v4+) other than it is refused as Kafka does
// (FENCED_LEADER_EPOCH below it, UNKNOWN_LEADER_EPOCH above). Each topic
// needs DESCRIBE, else its partitions answer TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListOffsets(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	mayDescribe := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	for _, rt := range req.Topics {
		ot := kmsg.ListOffsetsResponseTopic{Topic: rt.Topic}
		allowed := mayDescribe(rt.Topic)
		for _, rp := range rt.Partitions {
			if !allowed {
				ot.Partitions = append(ot.Partitions, listOffsetError(rp.Partition, kerr.TopicAuthorizationFailed.Code))
				continue
			}
			ot.Partitions = append(ot.Partitions, b.listOffset(rt.Topic, req.IsolationLevel, rp))
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return respond(resp)
}

func listOffsetError(partition int32, code int16) kmsg.ListOffsetsResponseTopicPartition {
	out := kmsg.NewListOffsetsResponseTopicPartition()
	out.Partition, out.ErrorCode = partition, code
	out.Timestamp, out.Offset = -1, -1
	return out
}

func (b *Broker) listOffset(topic string, isolation int8, rp kmsg.ListOffsetsRequestTopicPartition) kmsg.ListOffsetsResponseTopicPartition {
	out := kmsg.NewListOffsetsResponseTopicPartition()
	out.Partition = rp.Partition
	out.Timestamp, out.Offset, out.LeaderEpoch = -1, -1, 0
	l, err := b.partition(topic, rp.Partition)
	if err == nil {
		err = l.CheckEpoch(rp.CurrentLeaderEpoch)
	}
	if err == nil {
		err = l.Offline()
	}
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	out.LeaderEpoch, _ = l.LeaderEpoch()
	// A consumer may read up to the high watermark, or the last stable
	// offset under read_committed; a lookup finding a record at or past it
	// answers none (-1), as Kafka does, so that a consumer seeking there
	// does not wait on an open transaction's records.
	end := l.HighWatermark()
	if isolation == 1 {
		end = l.LastStableOffset()
	}
	switch rp.Timestamp {
	case -1:
		out.Offset = end
	case -2, -4:
		out.Offset = l.LogStartOffset()
	case -3:
		if off, ts, ok := l.MaxTimestamp(); ok && off < end {
			out.Offset, out.Timestamp = off, ts
		}
	case -5:
	default:
		if rp.Timestamp < 0 {
			out.ErrorCode = kerr.InvalidRequest.Code
			return out
		}
		if off, ts, ok := l.OffsetForTimestamp(rp.Timestamp); ok && off < end {
			out.Offset, out.Timestamp = off, ts
		}
	}
	return out
}
