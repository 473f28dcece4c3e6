package broker

// The checks the handlers share. Kafka's KafkaApis decides each resource
// once per request (AuthHelper.filterByAuthorized): a request naming a
// topic in many partitions, or twice, costs one Authorize call per topic.
// Which API checks what is tabled in docs/security.md ("Authorization").

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ResourceTypeAuthorizer is what an Authorizer implements to answer
// Kafka's authorizeByResourceType: may the principal perform op on at
// least one resource of the type (some ALLOW that no DENY covers
// wholly)? InitProducerId without a transactional id accepts WRITE on any
// topic in place of IDEMPOTENT_WRITE on the cluster (KIP-679); an
// Authorizer without it gives IDEMPOTENT_WRITE alone.
type ResourceTypeAuthorizer interface {
	AuthorizeByResourceType(principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool
}

// authorizer returns a check of op on resources of typ for r, asking the
// Authorizer once per distinct name.
func (b *Broker) authorizer(r *Request, op kmsg.ACLOperation, typ kmsg.ACLResourceType) func(name string) bool {
	if b.cfg.Authorizer == nil || r.internal {
		return func(string) bool { return true }
	}
	seen := map[string]bool{}
	return func(name string) bool {
		ok, found := seen[name]
		if !found {
			ok = b.authorized(r, op, typ, name)
			seen[name] = ok
		}
		return ok
	}
}

// authorizedCluster reports whether r may perform op on the cluster.
func (b *Broker) authorizedCluster(r *Request, op kmsg.ACLOperation) bool {
	return b.authorized(r, op, kmsg.ACLResourceTypeCluster, ClusterResource)
}

// authorizedByType reports whether r may perform op on some resource of
// typ (see ResourceTypeAuthorizer).
func (b *Broker) authorizedByType(r *Request, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	if b.cfg.Authorizer == nil || r.internal {
		return true
	}
	if a, ok := b.cfg.Authorizer.(ResourceTypeAuthorizer); ok {
		return a.AuthorizeByResourceType(r.principal(), r.ClientHost, op, typ)
	}
	return false
}

// configResourceACL is the ACL resource that guards a config resource and
// the error a denial answers, as Kafka's ConfigHelper and ControllerApis:
// broker and broker-logger configs are the cluster's. ok is false for a
// type the handlers refuse anyway (INVALID_REQUEST).
func configResourceACL(typ kmsg.ConfigResourceType, name string) (kmsg.ACLResourceType, string, *kerr.Error, bool) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return kmsg.ACLResourceTypeTopic, name, kerr.TopicAuthorizationFailed, true
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		return kmsg.ACLResourceTypeCluster, ClusterResource, kerr.ClusterAuthorizationFailed, true
	case kmsg.ConfigResourceTypeGroupConfig:
		return kmsg.ACLResourceTypeGroup, name, kerr.GroupAuthorizationFailed, true
	}
	return 0, "", nil, false
}

// authorizeConfig checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
// resource: nil when allowed, else the error to answer.
func (b *Broker) authorizeConfig(r *Request, op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string) error {
	aclType, aclName, denied, ok := configResourceACL(typ, name)
	if !ok || b.authorized(r, op, aclType, aclName) {
		return nil
	}
	return denied
}
