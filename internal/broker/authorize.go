package broker

// Authorization. Handlers ask b.authorized before each operation, as
// Kafka's KafkaApis does. Authorized operations (KIP-430): Metadata,
// DescribeCluster, DescribeGroups and ConsumerGroupDescribe report, when
// the request asks, the ACL operations the requesting principal may perform
// on a resource, as a bit set with bit n for operation code n.

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

// AnonymousPrincipal is the principal of a connection that did not
// authenticate (Kafka's KafkaPrincipal.ANONYMOUS).
const AnonymousPrincipal = "User:ANONYMOUS"

// ClusterResource is the name of the one CLUSTER resource.
const ClusterResource = "kafka-cluster"

// Authorizer decides whether a principal connecting from host may perform
// op on the named resource (Kafka's Authorizer.authorize for one action).
// It must be safe for concurrent use and cheap: every request calls it.
type Authorizer interface {
	Authorize(principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool
}

// authorized reports whether r's principal may perform op on the named
// resource; without an authorizer everyone may do everything.
func (b *Broker) authorized(r *Request, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	if b.cfg.Authorizer == nil || r.internal {
		return true
	}
	return b.cfg.Authorizer.Authorize(r.principal(), r.ClientHost, op, typ, name)
}

// principal is r's principal, anonymous when the server set none.
func (r *Request) principal() string {
	if r.Principal == "" {
		return AnonymousPrincipal
	}
	return r.Principal
}

// authorizedOperations is the bit set of the operations r's principal may
// perform on the named resource, among those the type supports.
func (b *Broker) authorizedOperations(r *Request, typ kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range resourceOperations[typ] {
		if b.authorized(r, op, typ, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// topicOperations answers a topic's authorized operations if asked.
func (b *Broker) topicOperations(r *Request, asked bool, topic string) int32 {
	if !asked {
		return authorizedOperationsOmitted
	}
	return b.authorizedOperations(r, kmsg.ACLResourceTypeTopic, topic)
}

// clusterOperations answers the cluster's authorized operations if asked:
// none (0) without DESCRIBE on the cluster, as Kafka's AuthHelper.
func (b *Broker) clusterOperations(r *Request, asked bool) int32 {
	if !asked {
		return authorizedOperationsOmitted
	}
	if !b.authorized(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, ClusterResource) {
		return 0
	}
	return b.authorizedOperations(r, kmsg.ACLResourceTypeCluster, ClusterResource)
}

// setGroupOperations fills in the authorized operations of the groups a
// DescribeGroups or ConsumerGroupDescribe response describes without
// error, when the request asked for them (as Kafka, groups answered with an
// error keep INT32_MIN).
func (b *Broker) setGroupOperations(r *Request, resp kmsg.Response) {
	switch resp := resp.(type) {
	case *kmsg.DescribeGroupsResponse:
		if req, ok := r.Msg.(*kmsg.DescribeGroupsRequest); ok && req.IncludeAuthorizedOperations && req.Version >= 3 {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = b.authorizedOperations(r, kmsg.ACLResourceTypeGroup, g.Group)
				}
			}
		}
	case *kmsg.ConsumerGroupDescribeResponse:
		if req, ok := r.Msg.(*kmsg.ConsumerGroupDescribeRequest); ok && req.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = b.authorizedOperations(r, kmsg.ACLResourceTypeGroup, g.Group)
				}
			}
		}
	}
}
