package broker

// DeleteTopics v0–v6 (v6 may name topics by ID). Deletion is immediate:
// the topic leaves the metadata and its logs leave the disk before the
// answer. ACLs, as Kafka: DELETE on the topic, else
// TOPIC_AUTHORIZATION_FAILED; a topic named by ID also needs DESCRIBE, else
// it is answered without its name.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleDeleteTopics(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if req.Version < 6 {
		topics = nil
		for _, name := range req.TopicNames {
			topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: &name})
		}
	}
	acl := deleteACL{
		describe: b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic),
		delete:   b.authorizer(r, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic),
	}
	for _, rt := range topics {
		resp.Topics = append(resp.Topics, b.deleteRequestedTopic(rt, b.cfg.Settings.Bool("delete.topic.enable"), acl))
	}
	return respond(resp)
}

// deleteACL holds a DeleteTopics request's checks.
type deleteACL struct{ describe, delete func(topic string) bool }

func (b *Broker) deleteRequestedTopic(rt kmsg.DeleteTopicsRequestTopic, enabled bool, acl deleteACL) kmsg.DeleteTopicsResponseTopic {
	out := kmsg.NewDeleteTopicsResponseTopic()
	out.Topic, out.TopicID = rt.Topic, rt.TopicID
	name := ""
	if rt.Topic != nil {
		name = *rt.Topic
	} else if t, ok := b.meta.TopicByID(rt.TopicID); ok {
		name = t.Name
		if !acl.describe(name) {
			out.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return out
		}
		out.Topic = &name
	} else {
		out.ErrorCode = kerr.UnknownTopicID.Code
		return out
	}
	if !acl.delete(name) {
		out.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return out
	}
	if !enabled || meta.IsInternalTopic(name) {
		err := fmt.Errorf("%w: delete.topic.enable is false", kerr.TopicDeletionDisabled)
		if enabled {
			err = fmt.Errorf("%w: %s is internal to the broker", kerr.InvalidTopicException, name)
		}
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		return out
	}
	t, err := b.deleteTopic(name)
	if err == nil {
		out.TopicID = t.ID
	}
	out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
	return out
}
