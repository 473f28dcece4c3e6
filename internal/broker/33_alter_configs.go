package broker

// AlterConfigs (key 33), versions 0–2.
//
// TOPIC, BROKER (this node's id, or "" for the cluster-wide defaults) and
// GROUP resources: the given set replaces every dynamic config the
// resource has (configs not named fall back to the next source; see
// dynamic.go). validate_only checks without changing anything. A broker
// property Kafka does not let AlterConfigs change, or a bad value for one,
// answers INVALID_REQUEST as in Kafka; a bad topic or group config
// INVALID_CONFIG. A resource named twice, a key named twice, or a null
// value answer INVALID_REQUEST. ACLs, as Kafka: ALTER_CONFIGS on the topic,
// the group, or the cluster for BROKER resources; a denial answers TOPIC_,
// GROUP_ or CLUSTER_AUTHORIZATION_FAILED. This file also holds the pieces
// IncrementalAlterConfigs shares.

import (
	"context"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleAlterConfigs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	alterEach(req.Resources,
		func(rr kmsg.AlterConfigsRequestResource) resourceKey {
			return resourceKey{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.AlterConfigsRequestResource) error {
			if err := b.authorizeConfig(r, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); err != nil {
				return err
			}
			return b.alterConfigResource(rr, req.ValidateOnly)
		},
		func(k resourceKey, err error) {
			out := kmsg.NewAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName = k.typ, k.name
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, out)
		})
	return respond(resp)
}

// alterEach alters every resource once and answers it; a resource named
// more than once is answered once, with INVALID_REQUEST, and not altered.
func alterEach[R any](resources []R, key func(R) resourceKey, alter func(R) error, answer func(resourceKey, error)) {
	seen := resourceCounter{}
	for _, rr := range resources {
		seen.add(key(rr))
	}
	for _, rr := range resources {
		k := key(rr)
		skip, err := seen.duplicate(k)
		if skip {
			continue
		}
		if err == nil {
			err = alter(rr)
		}
		answer(k, err)
	}
}

func (b *Broker) alterConfigResource(rr kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	next := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if _, dup := next[c.Name]; dup {
			return duplicateKey(c.Name)
		}
		if c.Value == nil {
			return fmt.Errorf("%w: null value for config %q", kerr.InvalidRequest, c.Name)
		}
		next[c.Name] = *c.Value
	}
	replace := func(map[string]string) (map[string]string, error) { return next, nil }
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.alterTopicConfigs(rr.ResourceName, validateOnly, replace)
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigs(rr.ResourceName, validateOnly, func(bool, map[string]string) (map[string]string, error) {
			return next, nil
		})
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(rr.ResourceName, validateOnly, replace)
	}
	return unsupportedResource(rr.ResourceType)
}

// alterTopicConfigs replaces a topic's overrides with edit(current) after
// validating them, unless validateOnly. topicMu makes the read-edit-write
// atomic against other config changes and pushes the result to the logs
// before another change can start.
func (b *Broker) alterTopicConfigs(topic string, validateOnly bool, edit func(cur map[string]string) (map[string]string, error)) error {
	if err := meta.ValidateTopicName(topic); err != nil {
		return err
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t, ok := b.meta.Topic(topic)
	if !ok {
		return fmt.Errorf("%w: %q", meta.ErrUnknownTopic, topic)
	}
	next, err := edit(maps.Clone(t.Configs))
	if err != nil {
		return err
	}
	if err := b.ctrl.AlterTopicConfigs(topic, next, validateOnly); err != nil || validateOnly {
		return err
	}
	if err := b.applyTopicConfig(topic); err != nil {
		return fmt.Errorf("applying configs of %s to its logs: %w", topic, err)
	}
	b.log.Info("topic configs altered", "topic", topic, "configs", next)
	return nil
}

func duplicateKey(name string) error {
	return fmt.Errorf("%w: config %q appears more than once", kerr.InvalidRequest, name)
}

type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// resourceCounter finds resources named more than once in a request. Kafka
// answers such a resource once, with INVALID_REQUEST, and changes nothing.
type resourceCounter map[resourceKey]int

func (c resourceCounter) add(k resourceKey) { c[k]++ }

// duplicate returns skip for the later occurrences of a repeated resource
// and an error for the first.
func (c resourceCounter) duplicate(k resourceKey) (skip bool, err error) {
	switch n := c[k]; {
	case n < 0:
		return true, nil
	case n > 1:
		c[k] = -1
		return false, fmt.Errorf("%w: resource %v %q appears more than once", kerr.InvalidRequest, k.typ, k.name)
	}
	return false, nil
}
