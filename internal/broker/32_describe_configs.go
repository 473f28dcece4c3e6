package broker

// DescribeConfigs (key 32), versions 0–4.
//
// Resources: TOPIC; BROKER named this node's id (every property, with its
// source: DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
// STATIC_BROKER_CONFIG or DEFAULT_CONFIG) or "" (the cluster-wide dynamic
// defaults set, as Kafka lists them); GROUP (KIP-848 group configs, source
// GROUP_CONFIG or DEFAULT_CONFIG, for any group name but ""). Other
// resource types (BROKER_LOGGER, CLIENT_METRICS) answer INVALID_REQUEST.
// Requested names that are not configs are left out, as Kafka does.
// Synonyms (v1+) list, highest precedence first, the topic override, the
// broker's dynamic configs, the cluster's dynamic defaults, the properties
// set at start, then defaults; ConfigType and Documentation are v3+.
// ACLs, as Kafka's ConfigHelper: DESCRIBE_CONFIGS on the topic, the group,
// or the cluster for BROKER (and BROKER_LOGGER, CLIENT_METRICS) resources;
// a denial answers TOPIC_, GROUP_ or CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

func handleDescribeConfigs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		resp.Resources = append(resp.Resources, b.describeConfigResource(r, req, rr))
	}
	return respond(resp)
}

func (b *Broker) describeConfigResource(r *Request, req *kmsg.DescribeConfigsRequest, rr kmsg.DescribeConfigsRequestResource) kmsg.DescribeConfigsResponseResource {
	out := kmsg.NewDescribeConfigsResponseResource()
	out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
	err := b.authorizeConfig(r, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName)
	var values []config.ConfigValue
	if err == nil {
		values, err = b.describeConfigValues(rr)
	}
	if err != nil {
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		return out
	}
	for _, v := range values {
		out.Configs = append(out.Configs, describedConfig(v, req.IncludeSynonyms, req.IncludeDocumentation))
	}
	return out
}

// describeConfigValues returns the resource's configs, all of them or the
// requested subset, in name order.
func (b *Broker) describeConfigValues(rr kmsg.DescribeConfigsRequestResource) ([]config.ConfigValue, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.describeTopicConfigs(rr.ResourceName, rr.ConfigNames)
	case kmsg.ConfigResourceTypeBroker:
		return b.brokerConfigValues(rr.ResourceName, rr.ConfigNames)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.groupConfigValues(rr.ResourceName, rr.ConfigNames)
	}
	return nil, unsupportedResource(rr.ResourceType)
}

func (b *Broker) describeTopicConfigs(topic string, names []string) ([]config.ConfigValue, error) {
	if err := meta.ValidateTopicName(topic); err != nil {
		return nil, err
	}
	t, ok := b.meta.Topic(topic)
	if !ok {
		return nil, fmt.Errorf("%w: %q", meta.ErrUnknownTopic, topic)
	}
	return describeEach(config.TopicConfigDefs(), names, func(name string) (config.ConfigValue, bool) {
		return config.DescribeTopicConfig(name, t.Configs, b.settings())
	}), nil
}

// describeEach describes every def, or only those named when names is
// non-nil (a null list asks for all).
func describeEach(defs []config.ConfigDef, names []string, describe func(string) (config.ConfigValue, bool)) []config.ConfigValue {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []config.ConfigValue
	for _, d := range defs {
		if names != nil && !want[d.Name] {
			continue
		}
		if v, ok := describe(d.Name); ok {
			out = append(out, v)
		}
	}
	return out
}

// describedConfig renders one config; fields the request's version does not
// carry are ignored by the encoder.
func describedConfig(v config.ConfigValue, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsSensitive = v.Def.Name, v.Def.ReadOnly, v.Def.Sensitive
	c.Value = configString(v.Value, v.Null || v.Def.Sensitive)
	c.Source = v.Source
	c.IsDefault = v.Source == kmsg.ConfigSourceDefaultConfig
	c.ConfigType = v.Def.Type
	if synonyms {
		c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
		for _, s := range v.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Source = s.Name, s.Source
			cs.Value = configString(s.Value, s.Null || v.Def.Sensitive)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if docs {
		c.Documentation = configString(v.Def.Doc, false)
	}
	return c
}

// configString is s as a nullable wire string; null hides sensitive values
// and stands for "no value".
func configString(s string, null bool) *string {
	if null {
		return nil
	}
	return &s
}

// checkBrokerResource accepts a BROKER resource naming this node, or ""
// (the cluster-wide defaults).
func (b *Broker) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker id must be an integer, got %q", kerr.InvalidRequest, name)
	}
	if int32(id) != b.cfg.NodeID {
		return fmt.Errorf("%w: unexpected broker id %d, this is node %d", kerr.InvalidRequest, id, b.cfg.NodeID)
	}
	return nil
}

func unsupportedResource(t kmsg.ConfigResourceType) error {
	return fmt.Errorf("%w: config resource type %v is not supported", kerr.InvalidRequest, t)
}
