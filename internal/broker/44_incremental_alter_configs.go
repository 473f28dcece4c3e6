package broker

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// TOPIC, BROKER and GROUP resources (see 33_alter_configs.go and
// dynamic.go) with SET, DELETE, APPEND and SUBTRACT. APPEND and SUBTRACT
// apply only to LIST configs (cleanup.policy, log.cleanup.policy), else
// INVALID_CONFIG; they start from the config's current value (override,
// broker setting or default) and treat the operand as a comma-separated
// list. A null value with SET, APPEND or SUBTRACT, an unknown op, or a key
// named twice answer INVALID_REQUEST. validate_only is honoured. ACLs as
// AlterConfigs: ALTER_CONFIGS on the topic, group or cluster.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
)

func handleIncrementalAlterConfigs(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	alterEach(req.Resources,
		func(rr kmsg.IncrementalAlterConfigsRequestResource) resourceKey {
			return resourceKey{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.IncrementalAlterConfigsRequestResource) error {
			if err := b.authorizeConfig(r, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); err != nil {
				return err
			}
			return b.incrementalAlterResource(rr, req.ValidateOnly)
		},
		func(k resourceKey, err error) {
			out := kmsg.NewIncrementalAlterConfigsResponseResource()
			out.ResourceType, out.ResourceName = k.typ, k.name
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, out)
		})
	return respond(resp)
}

func (b *Broker) incrementalAlterResource(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if err := checkIncrementalOps(rr.Configs); err != nil {
		return err
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.alterTopicConfigs(rr.ResourceName, validateOnly, func(cur map[string]string) (map[string]string, error) {
			describe := func(cur map[string]string, name string) (config.ConfigValue, bool) {
				return config.DescribeTopicConfig(name, cur, b.settings())
			}
			return applyIncrementalOps(cur, rr.Configs, describe, false)
		})
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigs(rr.ResourceName, validateOnly, func(perBroker bool, cur map[string]string) (map[string]string, error) {
			return applyIncrementalOps(cur, rr.Configs, b.describeBrokerAt(perBroker), true)
		})
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(rr.ResourceName, validateOnly, func(cur map[string]string) (map[string]string, error) {
			return applyIncrementalOps(cur, rr.Configs, b.describeGroupAt, false)
		})
	}
	return unsupportedResource(rr.ResourceType)
}

// checkIncrementalOps rejects malformed operations before anything is read.
func checkIncrementalOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return duplicateKey(op.Name)
		}
		seen[op.Name] = true
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpDelete:
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if op.Value == nil {
				return fmt.Errorf("%w: null value for %v of config %q", kerr.InvalidRequest, op.Op, op.Name)
			}
		default:
			return fmt.Errorf("%w: unknown operation %d on config %q", kerr.InvalidRequest, op.Op, op.Name)
		}
	}
	return nil
}

// describeFunc describes a config of the resource being altered as it
// would be with cur as the resource's configs; false for a name it does
// not know.
type describeFunc func(cur map[string]string, name string) (config.ConfigValue, bool)

// applyIncrementalOps returns cur (which it may modify) with ops applied.
// Names describe does not know are refused, unless keepUnknown (BROKER
// resources keep custom properties, as Kafka does) or the op deletes one
// present. The caller validates the result as a whole.
func applyIncrementalOps(cur map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, describe describeFunc, keepUnknown bool) (map[string]string, error) {
	if cur == nil {
		cur = map[string]string{}
	}
	for _, op := range ops {
		_, known := describe(cur, op.Name)
		_, present := cur[op.Name]
		if !known && !keepUnknown && !(op.Op == kmsg.IncrementalAlterConfigOpDelete && present) {
			return nil, &config.ConfigError{Key: op.Name, Reason: "unknown config"}
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			cur[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cur, op.Name)
		default:
			v, err := applyListOp(cur, op, describe)
			if err != nil {
				return nil, err
			}
			cur[op.Name] = v
		}
	}
	return cur, nil
}

// applyListOp computes APPEND (add items not yet listed) or SUBTRACT
// (remove listed items) on a LIST config's current value.
func applyListOp(cur map[string]string, op kmsg.IncrementalAlterConfigsRequestResourceConfig, describe describeFunc) (string, error) {
	current, _ := describe(cur, op.Name)
	if current.Def.Type != kmsg.ConfigTypeList {
		return "", &config.ConfigError{Key: op.Name, Value: *op.Value,
			Reason: fmt.Sprintf("%v applies only to list configs, and %s is a %v", op.Op, op.Name, current.Def.Type)}
	}
	list := splitList(current.Value)
	for _, item := range splitList(*op.Value) {
		has := slices.Contains(list, item)
		switch {
		case op.Op == kmsg.IncrementalAlterConfigOpAppend && !has:
			list = append(list, item)
		case op.Op == kmsg.IncrementalAlterConfigOpSubtract && has:
			list = slices.DeleteFunc(list, func(s string) bool { return s == item })
		}
	}
	return strings.Join(list, ","), nil
}

// splitList splits a comma-separated config list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
