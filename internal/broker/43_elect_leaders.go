package broker

// ElectLeaders v0–v2 (KIP-183, KIP-460). v0 elects preferred leaders only;
// v1+ ElectionType 0 is preferred, 1 unclean. Kafka sends this request to
// the controller; any Eddy broker answers, since its controller proposes
// through the metadata quorum from any node. Null topics mean every
// partition, and then, as Kafka's controller does, partitions that already
// have the leader asked for are left out of the answer. A partition named
// twice is elected and answered once. A failure of the whole election (no
// quorum, or an election type other than 0 and 1: INVALID_REQUEST) is the
// top-level error (v1+) and every named partition's error.
// An election computed on an image that a concurrent partition change
// made stale is refused by the quorum and tried again. TimeoutMillis is
// not used: the answer comes once the quorum committed. ACLs, as Kafka:
// ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED as the failure of
// the whole election.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleElectLeaders(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	all := req.Topics == nil
	asked := electionPartitions(req.Topics)
	if all {
		asked = b.allPartitions()
	}
	unclean := req.Version >= 1 && req.ElectionType == 1
	var results map[controller.TopicPartition]error
	err := fmt.Errorf("%w: election type %d", kerr.InvalidRequest, req.ElectionType)
	switch {
	case !b.authorizedCluster(r, kmsg.ACLOperationAlter):
		err = kerr.ClusterAuthorizationFailed
	case req.Version == 0 || req.ElectionType == 0 || req.ElectionType == 1:
		results, err = b.electLeaders(asked, unclean)
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		results = map[controller.TopicPartition]error{}
		for _, tp := range asked {
			results[tp] = err
		}
		if all {
			return respond(resp)
		}
	}
	index := map[string]int{} // topic → its entry in resp.Topics
	for _, tp := range asked {
		perr := results[tp]
		if all && (errors.Is(perr, controller.ErrElectionNotNeeded) || errors.Is(perr, controller.ErrUnknownPartition)) {
			// Not news when every partition was asked for; an unknown
			// one was deleted since the image was read.
			continue
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition, p.ErrorCode, p.ErrorMessage = tp.Partition, errorCode(perr), errorMessage(perr)
		resp.Topics = appendElectionResult(resp.Topics, index, tp.Topic, p)
	}
	return respond(resp)
}

// electionAttempts bounds the retries of an election whose image went
// stale: each retry starts from an image at least as new as the change
// that made the last one stale, so only a partition changing nonstop
// would exhaust them.
const electionAttempts = 5

func (b *Broker) electLeaders(asked []controller.TopicPartition, unclean bool) (map[controller.TopicPartition]error, error) {
	for i := 1; ; i++ {
		results, err := b.ctrl.ElectLeaders(asked, unclean)
		if err == nil || !errors.Is(err, meta.ErrStalePartitionEpoch) || i == electionAttempts {
			return results, err
		}
	}
}

// electionPartitions lists the partitions a request names, in its order,
// each once: the controller elects each partition in one proposal, where
// a second change to the same partition would be stale.
func electionPartitions(topics []kmsg.ElectLeadersRequestTopic) []controller.TopicPartition {
	seen := map[controller.TopicPartition]bool{}
	var out []controller.TopicPartition
	for _, rt := range topics {
		for _, p := range rt.Partitions {
			tp := controller.TopicPartition{Topic: rt.Topic, Partition: p}
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	return out
}

// allPartitions lists every partition of the image, by topic name and
// index, so that an election of all of them answers each one that failed
// (the controller, given nil, returns only those elected).
func (b *Broker) allPartitions() []controller.TopicPartition {
	out := []controller.TopicPartition{}
	for _, t := range b.meta.Image().Topics() { // sorted by name
		for i := range t.Assignments {
			out = append(out, controller.TopicPartition{Topic: t.Name, Partition: int32(i)})
		}
	}
	return out
}

// appendElectionResult adds p to topic's entry in topics, making one at
// the end if index (topic → position) has none: a topic named twice is
// answered once.
func appendElectionResult(topics []kmsg.ElectLeadersResponseTopic, index map[string]int, topic string, p kmsg.ElectLeadersResponseTopicPartition) []kmsg.ElectLeadersResponseTopic {
	if i, ok := index[topic]; ok {
		topics[i].Partitions = append(topics[i].Partitions, p)
		return topics
	}
	index[topic] = len(topics)
	t := kmsg.NewElectLeadersResponseTopic()
	t.Topic, t.Partitions = topic, []kmsg.ElectLeadersResponseTopicPartition{p}
	return append(topics, t)
}
