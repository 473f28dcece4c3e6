package broker

// DeleteRecords v0–v2: advances a partition's log start offset (offset -1
// means the high watermark) and deletes the segments wholly below it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
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
			l := b.logs.Log(rt.Topic, rp.Partition)
			if l == nil {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				offset := rp.Offset
				if offset == -1 {
					offset = l.HighWatermark()
				}
				low, err := l.DeleteRecordsBefore(ctx, offset)
				op.LowWatermark, op.ErrorCode = low, errorCode(err)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return respond(resp)
}
