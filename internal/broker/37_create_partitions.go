package broker

// CreatePartitions v0–v3. Manual assignments must place each new partition
// on this node alone (single node). ACLs, as Kafka: ALTER on the topic,
// else TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleCreatePartitions(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	mayAlter := b.authorizer(r, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic)
	tooMany := checkRequestPartitions(b.newPartitions(req))
	for _, rt := range req.Topics {
		out := kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		err := tooMany
		if !mayAlter(rt.Topic) {
			err = kerr.TopicAuthorizationFailed
		}
		if err == nil {
			err = b.createPartitions(rt, req.ValidateOnly)
		}
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, out)
	}
	return respond(resp)
}

// newPartitions counts the partitions a request would add, leaving out
// topics that would pass controller.MaxPartitions (they fail alone).
func (b *Broker) newPartitions(req *kmsg.CreatePartitionsRequest) int64 {
	var n int64
	for _, rt := range req.Topics {
		if t, ok := b.meta.Topic(rt.Topic); ok && rt.Count > t.Partitions && rt.Count <= controller.MaxPartitions {
			n += int64(rt.Count - t.Partitions)
		}
	}
	return n
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, ok := b.meta.Topic(rt.Topic)
	if !ok {
		return fmt.Errorf("%w: %s", meta.ErrUnknownTopic, rt.Topic)
	}
	if err := controller.ValidatePartitionGrowth(t, rt.Count); err != nil {
		return err
	}
	var assignment [][]int32
	if rt.Assignment != nil {
		assignment = [][]int32{}
		for _, a := range rt.Assignment {
			assignment = append(assignment, a.Replicas)
		}
	}
	return b.addPartitions(rt.Topic, rt.Count, assignment, validateOnly)
}
