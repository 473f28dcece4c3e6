package broker

// DeleteRecords v0–v2: advances a partition's log start offset (offset -1
// means the high watermark) and deletes the segments wholly below it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteRecords(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewDeleteRecordsResponseTopicPartition()
			op.Partition, op.LowWatermark = rp.Partition, -1
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
