package broker

// CreateTopics v0–v7. Replication factor 1 only (single node); manual
// replica assignments must name this node once per partition. validate_only
// checks everything and creates nothing. From v5 the answer carries the
// topic's resolved configs. ACLs, as Kafka: CREATE on the cluster or on
// the topic (else TOPIC_AUTHORIZATION_FAILED), and DESCRIBE_CONFIGS on the
// topic for the configs in the answer (else ConfigErrorCode
// TOPIC_AUTHORIZATION_FAILED and none).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleCreateTopics(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	var total int64
	for _, rt := range req.Topics {
		seen[rt.Topic]++
		total += b.requestedPartitions(rt)
	}
	// As Kafka does, a request over the cap fails as a whole.
	tooMany := checkRequestPartitions(total)
	mayCreate := b.createAuthorizer(r)
	mayDescribeConfigs := b.authorizer(r, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic)
	for _, rt := range req.Topics {
		out := kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		switch {
		case seen[rt.Topic] > 1:
			setCreateError(&out, fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, rt.Topic))
		case !mayCreate(rt.Topic):
			setCreateError(&out, kerr.TopicAuthorizationFailed)
		case tooMany != nil:
			setCreateError(&out, tooMany)
		default:
			b.createRequestedTopic(rt, req.ValidateOnly, req.Version, mayDescribeConfigs(rt.Topic), &out)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return respond(resp)
}

func setCreateError(out *kmsg.CreateTopicsResponseTopic, err error) {
	out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
	out.NumPartitions, out.ReplicationFactor = -1, -1
}

func (b *Broker) createRequestedTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool, version int16, showConfigs bool, out *kmsg.CreateTopicsResponseTopic) {
	spec, err := b.topicShape(rt)
	if err != nil {
		setCreateError(out, err)
		return
	}
	spec.name, spec.configs = rt.Topic, map[string]string{}
	for _, c := range rt.Configs {
		if c.Value != nil {
			spec.configs[c.Name] = *c.Value
		}
	}
	var t meta.Topic
	if validateOnly {
		t, err = b.validateTopic(spec)
	} else {
		t, err = b.createTopic(spec)
	}
	if err != nil {
		setCreateError(out, err)
		return
	}
	out.TopicID, out.NumPartitions, out.ReplicationFactor = t.ID, t.Partitions, t.ReplicationFactor
	switch {
	case version >= 5 && !showConfigs:
		out.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
	case version >= 5:
		out.Configs = b.createdTopicConfigs(t)
	}
}

// requestedPartitions is how many partitions rt asks for, 0 if more than a
// topic may have (that topic alone fails, with INVALID_PARTITIONS).
func (b *Broker) requestedPartitions(rt kmsg.CreateTopicsRequestTopic) int64 {
	n := int64(rt.NumPartitions)
	switch {
	case len(rt.ReplicaAssignment) > 0:
		n = int64(len(rt.ReplicaAssignment))
	case rt.NumPartitions == -1:
		n = b.cfg.Settings.Int("num.partitions")
	}
	if n < 0 || n > controller.MaxPartitions {
		return 0
	}
	return n
}

// topicShape reads partitions and replication factor from the counts, or
// a manual assignment (checked by the controller).
func (b *Broker) topicShape(rt kmsg.CreateTopicsRequestTopic) (topicSpec, error) {
	if len(rt.ReplicaAssignment) == 0 {
		return topicSpec{partitions: rt.NumPartitions, rf: rt.ReplicationFactor}, nil
	}
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return topicSpec{}, fmt.Errorf("%w: both replica assignment and partition count or replication factor given", kerr.InvalidRequest)
	}
	spec := topicSpec{partitions: int32(len(rt.ReplicaAssignment)), rf: -1}
	for i, a := range rt.ReplicaAssignment {
		if a.Partition != int32(i) {
			return topicSpec{}, fmt.Errorf("%w: replica assignment partitions must be 0..n-1 in order", kerr.InvalidReplicaAssignment)
		}
		spec.assignment = append(spec.assignment, a.Replicas)
	}
	return spec, nil
}

// validateTopic checks a creation without performing it. The topic it
// returns has a zero ID, as none was taken.
func (b *Broker) validateTopic(spec topicSpec) (meta.Topic, error) {
	// A check changes nothing: no need to wait for topicMu behind a
	// creation of thousands of logs.
	rec, err := b.planTopic(spec)
	if err != nil {
		return meta.Topic{}, err
	}
	t := rec.Topic()
	t.ID = [16]byte{}
	return t, nil
}

// createdTopicConfigs lists a topic's resolved configs for CreateTopics v5+.
func (b *Broker) createdTopicConfigs(t meta.Topic) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, d := range config.TopicConfigDefs() {
		v, _ := config.DescribeTopicConfig(d.Name, t.Configs, b.settings())
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.ReadOnly, c.IsSensitive, c.Source = d.Name, d.ReadOnly, d.Sensitive, int8(v.Source)
		if !d.Sensitive {
			c.Value = configString(v.Value, v.Null)
		}
		out = append(out, c)
	}
	return out
}
