package broker

// DeleteTopics v0–v6 (v6 may name topics by ID). Deletion is immediate:
// the topic leaves the metadata and its logs leave the disk before the
// answer.

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
	for _, rt := range topics {
		resp.Topics = append(resp.Topics, b.deleteRequestedTopic(rt, b.cfg.Settings.Bool("delete.topic.enable")))
	}
	return respond(resp)
}

func (b *Broker) deleteRequestedTopic(rt kmsg.DeleteTopicsRequestTopic, enabled bool) kmsg.DeleteTopicsResponseTopic {
	out := kmsg.NewDeleteTopicsResponseTopic()
	out.Topic, out.TopicID = rt.Topic, rt.TopicID
	name := ""
	if rt.Topic != nil {
		name = *rt.Topic
	} else if t, ok := b.meta.TopicByID(rt.TopicID); ok {
		name = t.Name
		out.Topic = &name
	} else {
		out.ErrorCode = kerr.UnknownTopicID.Code
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
