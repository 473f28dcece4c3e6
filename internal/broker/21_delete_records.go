package broker

// DeleteRecords v0–v2: advances a partition's log start offset (offset -1
// means the high watermark) and deletes the segments wholly below it.
// ACLs, as Kafka: DELETE on the topic, else its partitions answer
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteRecords(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	mayDelete := b.authorizer(r, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic)
	for _, rt := range req.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		allowed := mayDelete(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewDeleteRecordsResponseTopicPartition()
			op.Partition, op.LowWatermark = rp.Partition, -1
			if !allowed {
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			l, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				op.ErrorCode = errorCode(err)
			} else {
				low, err := l.DeleteRecordsBefore(ctx, rp.Offset)
				op.LowWatermark, op.ErrorCode = low, errorCode(err)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return respond(resp)
}
