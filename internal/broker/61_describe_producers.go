package broker

// DescribeProducers v0 (KIP-664): for each partition, the producers its log
// remembers here, with epoch, last sequence and timestamp, the coordinator
// epoch of their last marker and the first offset of their open
// transaction (-1 if none), as Kafka's ReplicaManager.activeProducerState.
// Like Kafka, any replica answers, leader or follower (admin clients ask the
// leader unless told a broker); a broker without a replica of an existing
// partition answers NOT_LEADER_OR_FOLLOWER, an unknown topic or partition
// UNKNOWN_TOPIC_OR_PARTITION, an invalid topic name INVALID_TOPIC_EXCEPTION.
// ACLs, as Kafka: READ on the topic, else its partitions answer
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
)

func handleDescribeProducers(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	mayRead := b.authorizer(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
	for _, rt := range req.Topics {
		ot := kmsg.NewDescribeProducersResponseTopic()
		ot.Topic = rt.Topic
		var topicErr error
		if !mayRead(rt.Topic) {
			topicErr = kerr.TopicAuthorizationFailed
		}
		if topicErr == nil {
			topicErr = meta.ValidateTopicName(rt.Topic)
		}
		if _, ok := b.meta.Topic(rt.Topic); topicErr == nil && !ok {
			topicErr = fmt.Errorf("%w: %s", meta.ErrUnknownTopic, rt.Topic)
		}
		for _, p := range rt.Partitions {
			op := kmsg.NewDescribeProducersResponseTopicPartition()
			op.Partition = p
			err := topicErr
			if err == nil {
				op.ActiveProducers, err = b.activeProducers(ctx, rt.Topic, p)
			}
			op.ErrorCode, op.ErrorMessage = errorCode(err), errorMessage(err)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return respond(resp)
}

// activeProducers answers one partition from this node's replica of it.
func (b *Broker) activeProducers(ctx context.Context, topic string, p int32) ([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, error) {
	part, ok := b.replicas.Replica(topic, p)
	switch {
	case !ok && b.partitionExists(topic, p):
		return nil, fmt.Errorf("%w: no replica of %s-%d here", replica.ErrNotLeader, topic, p)
	case !ok:
		return nil, fmt.Errorf("%w: %s-%d", replica.ErrUnknownPartition, topic, p)
	}
	if err := part.Offline(); err != nil {
		return nil, err
	}
	states, err := part.Producers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, 0, len(states))
	for _, s := range states {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = s.ProducerID, int32(s.ProducerEpoch), s.LastSequence
		ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = s.LastTimestamp, s.CoordinatorEpoch, s.TxnStartOffset
		out = append(out, ap)
	}
	return out, nil
}
