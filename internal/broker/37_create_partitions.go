package broker

// CreatePartitions v0–v3. Manual assignments must place each new partition
// on this node alone (single node).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleCreatePartitions(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		err := b.createPartitions(rt, req.ValidateOnly)
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, out)
	}
	return respond(resp)
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, ok := b.meta.Topic(rt.Topic)
	if !ok {
		return fmt.Errorf("%w: %s", meta.ErrUnknownTopic, rt.Topic)
	}
	if err := meta.ValidatePartitionGrowth(t, rt.Count); err != nil {
		return err
	}
	if rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-t.Partitions) {
		return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(rt.Assignment), rt.Count-t.Partitions)
	}
	for _, a := range rt.Assignment {
		if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
			return fmt.Errorf("%w: new partitions must be assigned to node %d only", kerr.InvalidReplicaAssignment, b.cfg.NodeID)
		}
	}
	if validateOnly {
		return nil
	}
	return b.addPartitions(rt.Topic, rt.Count)
}
