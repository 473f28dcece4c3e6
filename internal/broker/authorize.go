package broker

// Authorized operations (KIP-430). Metadata, DescribeCluster,
// DescribeGroups and ConsumerGroupDescribe report, when the request asks,
// the ACL operations the requesting principal may perform on a resource, as
// a bit set with bit n for operation code n. Eddy has no authorizer yet
// (ACLs come with their issue), so every principal may perform every
// operation Kafka defines for the resource type, which is what Kafka
// answers when no authorizer is configured.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizedOperationsOmitted is Kafka's "not requested" value (INT32_MIN).
const authorizedOperationsOmitted = math.MinInt32

// resourceOperations lists the operations Kafka supports on each resource
// type that reports authorized operations (AclEntry.supportedOperations).
var resourceOperations = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
		kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
}

// authorizedOperations is the bit set of the operations r's principal may
// perform on the named resource: all the type supports, while no
// authorizer exists. An authorizer will filter them per principal here.
func authorizedOperations(_ *Request, typ kmsg.ACLResourceType, _ string) int32 {
	var bits int32
	for _, op := range resourceOperations[typ] {
		bits |= 1 << op
	}
	return bits
}

// topicOperations answers a topic's authorized operations if asked.
func topicOperations(r *Request, asked bool, topic string) int32 {
	if !asked {
		return authorizedOperationsOmitted
	}
	return authorizedOperations(r, kmsg.ACLResourceTypeTopic, topic)
}

// clusterOperations answers the cluster's authorized operations if asked.
func clusterOperations(r *Request, asked bool) int32 {
	if !asked {
		return authorizedOperationsOmitted
	}
	return authorizedOperations(r, kmsg.ACLResourceTypeCluster, "kafka-cluster")
}

// setGroupOperations fills in the authorized operations of the groups a
// DescribeGroups or ConsumerGroupDescribe response describes without
// error, when the request asked for them (as Kafka, groups answered with an
// error keep INT32_MIN).
func setGroupOperations(r *Request, resp kmsg.Response) {
	switch resp := resp.(type) {
	case *kmsg.DescribeGroupsResponse:
		if req, ok := r.Msg.(*kmsg.DescribeGroupsRequest); ok && req.IncludeAuthorizedOperations && req.Version >= 3 {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = authorizedOperations(r, kmsg.ACLResourceTypeGroup, g.Group)
				}
			}
		}
	case *kmsg.ConsumerGroupDescribeResponse:
		if req, ok := r.Msg.(*kmsg.ConsumerGroupDescribeRequest); ok && req.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = authorizedOperations(r, kmsg.ACLResourceTypeGroup, g.Group)
				}
			}
		}
	}
}
