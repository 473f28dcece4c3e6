package broker

// Metadata v0–v13. Each partition's leader, replicas and ISR are the
// metadata image's; on a standalone node all are this node. As Kafka's
// KRaft brokers answer: a partition whose leader is none (-1) or not live
// gets LEADER_NOT_AVAILABLE with leader -1; OfflineReplicas (v5+) lists the
// replicas on brokers that are fenced or not registered. The v0-only
// REPLICA_NOT_AVAILABLE (replicas filtered to live brokers) is not
// answered. Topics may be named or, from v10, given by ID. Unknown topics are created when the
// request allows it (always before v4) and auto.create.topics.enable holds.
// Authorized operations (v8+) are reported when asked for: the cluster's in
// v8–v10 only (later versions moved them to DescribeCluster), each named
// topic's in every version from v8; topics unknown by ID keep INT32_MIN.
//
// ACLs, as Kafka: a topic the principal may not DESCRIBE is left out of
// an all-topics answer and answered TOPIC_AUTHORIZATION_FAILED when named
// (without its ID when named by name, without its name when named by ID,
// so its existence is not disclosed). Auto-creation needs CREATE on the
// cluster or on the topic, else TOPIC_AUTHORIZATION_FAILED. The cluster's
// authorized operations are 0 without DESCRIBE on the cluster.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleMetadata(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = b.brokers()
	clusterID := b.meta.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = b.clusterOperations(r, req.IncludeClusterAuthorizedOperations && req.Version <= 10)
	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	acl := metadataACL{describe: b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)}
	if allTopics {
		for _, t := range b.meta.Topics() {
			if acl.describe(t.Name) {
				resp.Topics = append(resp.Topics, b.metadataTopic(t))
			}
		}
	} else {
		var auto *autoCreate // nil: no auto-creation
		if (req.Version < 4 || req.AllowAutoTopicCreation) && b.cfg.Settings.Bool("auto.create.topics.enable") {
			auto = &autoCreate{left: maxPartitionsPerRequest}
			acl.create = b.createAuthorizer(r)
		}
		// Kafka answers each distinct topic once: a request naming one
		// topic a million times must not cost a million answers.
		seenNames, seenIDs := map[string]bool{}, map[[16]byte]bool{}
		for _, rt := range req.Topics {
			if rt.Topic != nil && seenNames[*rt.Topic] || rt.Topic == nil && seenIDs[rt.TopicID] {
				continue
			}
			if rt.Topic != nil {
				seenNames[*rt.Topic] = true
			} else {
				seenIDs[rt.TopicID] = true
			}
			resp.Topics = append(resp.Topics, b.metadataRequestedTopic(rt, auto, acl))
		}
	}
	for i := range resp.Topics {
		if t := &resp.Topics[i]; t.Topic != nil && t.ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.AuthorizedOperations = b.topicOperations(r, req.IncludeTopicAuthorizedOperations, *t.Topic)
		}
	}
	return respond(resp)
}

func (b *Broker) self() kmsg.MetadataResponseBroker {
	return kmsg.MetadataResponseBroker{NodeID: b.cfg.NodeID, Host: b.cfg.AdvertiseHost, Port: b.cfg.AdvertisePort}
}

// metadataACL holds a Metadata request's checks: DESCRIBE on each topic,
// and CREATE (cluster or topic) when it may auto-create.
type metadataACL struct {
	describe func(topic string) bool
	create   func(topic string) bool
}

// createAuthorizer says which topics r may create: all of them with CREATE
// on the cluster, else those it may CREATE by name (Kafka's CreateTopics
// and auto-creation rule).
// The cluster is asked at the first topic, so that a Metadata request that
// creates nothing costs no call.
func (b *Broker) createAuthorizer(r *Request) func(topic string) bool {
	perTopic := b.authorizer(r, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic)
	var cluster *bool
	return func(topic string) bool {
		if cluster == nil {
			ok := b.authorizedCluster(r, kmsg.ACLOperationCreate)
			cluster = &ok
		}
		return *cluster || perTopic(topic)
	}
}

func metadataDenied(name *string, id [16]byte) kmsg.MetadataResponseTopic {
	return kmsg.MetadataResponseTopic{ErrorCode: kerr.TopicAuthorizationFailed.Code, Topic: name, TopicID: id, AuthorizedOperations: authorizedOperationsOmitted}
}

func (b *Broker) metadataRequestedTopic(rt kmsg.MetadataRequestTopic, auto *autoCreate, acl metadataACL) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		t, ok := b.meta.TopicByID(rt.TopicID)
		if !ok {
			return kmsg.MetadataResponseTopic{ErrorCode: kerr.UnknownTopicID.Code, TopicID: rt.TopicID, AuthorizedOperations: authorizedOperationsOmitted}
		}
		if !acl.describe(t.Name) {
			return metadataDenied(nil, t.ID) // Kafka: an ID is not sensitive, its name is
		}
		return b.metadataTopic(t)
	}
	name := *rt.Topic
	if !acl.describe(name) {
		return metadataDenied(&name, [16]byte{})
	}
	t, ok := b.meta.Topic(name)
	if !ok && auto != nil && !acl.create(name) {
		return metadataDenied(&name, [16]byte{})
	}
	if !ok && auto != nil {
		created, err := b.autoCreateTopic(name, auto)
		switch {
		case err == nil:
			t, ok = created, true
		case errors.Is(err, meta.ErrTopicExists): // another client won the race
			t, ok = b.meta.Topic(name)
		default:
			b.log.Info("auto topic creation refused", "topic", name, "err", err)
			return kmsg.MetadataResponseTopic{ErrorCode: errorCode(err), Topic: &name, AuthorizedOperations: authorizedOperationsOmitted}
		}
	}
	if !ok {
		code := kerr.UnknownTopicOrPartition.Code
		if meta.ValidateTopicName(name) != nil {
			code = kerr.InvalidTopicException.Code
		}
		return kmsg.MetadataResponseTopic{ErrorCode: code, Topic: &name, AuthorizedOperations: authorizedOperationsOmitted}
	}
	return b.metadataTopic(t)
}

func (b *Broker) metadataTopic(t meta.Topic) kmsg.MetadataResponseTopic {
	name := t.Name
	mt := kmsg.MetadataResponseTopic{Topic: &name, TopicID: t.ID, IsInternal: t.Internal, AuthorizedOperations: authorizedOperationsOmitted}
	live := b.liveness()
	for p, a := range t.Assignments {
		mp := kmsg.MetadataResponseTopicPartition{
			Partition:   int32(p),
			Leader:      a.Leader,
			LeaderEpoch: a.LeaderEpoch,
			Replicas:    a.Replicas,
			ISR:         a.ISR,
		}
		if a.Leader < 0 || !live(a.Leader) {
			mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, -1
		}
		for _, r := range a.Replicas {
			if !live(r) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// liveness reports which brokers can serve a partition: on a cluster the
// registered, unfenced ones; on a standalone node, which registers no
// brokers, this node.
func (b *Broker) liveness() func(id int32) bool {
	img := b.meta.Image()
	if len(img.Brokers()) == 0 {
		return func(id int32) bool { return id == b.cfg.NodeID }
	}
	return img.Live
}
