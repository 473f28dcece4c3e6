package config

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerOnly lists the broker properties that are not defaults of a topic
// config, plus the hour and minute forms of the time synonyms. The rest are
// derived from topicTable in init.
var brokerOnly = []ConfigDef{
	{Name: "auto.leader.rebalance.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Give partitions back to their preferred leaders (the first replica) once those are in sync again, checked every leader.imbalance.check.interval.seconds."},
	{Name: "add.partitions.to.txn.retry.backoff.max.ms", Type: kmsg.ConfigTypeInt, Default: "100", HasDefault: true,
		Validate: intRange(32, 0, 1<<31-1), Doc: "How long a produce or TxnOffsetCommit waits, retrying, while the transaction's coordinator answers CONCURRENT_TRANSACTIONS (the previous transaction's markers are still being written) before the client is told to retry."},
	{Name: "add.partitions.to.txn.retry.backoff.ms", Type: kmsg.ConfigTypeInt, Default: "20", HasDefault: true,
		Validate: intRange(32, 1, 1<<31-1), Doc: "Pause between those retries."},
	{Name: "allow.everyone.if.no.acl.found", Type: kmsg.ConfigTypeBoolean, Default: "false", HasDefault: true,
		Validate: isBool, Doc: "With an authorizer, let every principal act on a resource that no ACL names; false (Kafka's default) denies it."},
	{Name: "authorizer.class.name", Type: kmsg.ConfigTypeString, Default: "", HasDefault: true,
		Validate: oneOf(false, "", AuthorizerStandard, "kafka.security.authorizer.AclAuthorizer", "acl"), Doc: "Turns ACLs on: org.apache.kafka.metadata.authorizer.StandardAuthorizer (Kafka's name; its older AclAuthorizer and the alias acl mean the same); empty, every principal may do everything."},
	{Name: "auto.create.topics.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Create a topic when a client asks for metadata of one that does not exist."},
	{Name: "broker.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "2000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "How often a cluster member heartbeats to the controller."},
	{Name: "broker.id", Type: kmsg.ConfigTypeInt, Default: "-1", HasDefault: true,
		Validate: intAtLeast(-1), Doc: "This node's id; eddy serve sets it from --node-id."},
	{Name: "broker.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "9000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "A broker the controller has not heard from for this long is fenced and its partitions get new leaders."},
	{Name: "connections.max.idle.ms", Type: kmsg.ConfigTypeLong, Default: "600000", HasDefault: true,
		Validate: longAtLeast(-1), Doc: "Close a connection that sends nothing, and reads no response, for this long with no request in flight; -1 never does."},
	{Name: "connections.max.reauth.ms", Type: kmsg.ConfigTypeLong, Default: "0", HasDefault: true,
		Validate: longAtLeast(0), Doc: "A SASL session lasts at most this long: the client must re-authenticate (KIP-368) before it ends or the connection is closed; 0 means sessions never expire."},
	{Name: "default.replication.factor", Type: kmsg.ConfigTypeInt, Default: "1", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Replication factor of topics created without one."},
	{Name: "delete.topic.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Whether DeleteTopics is allowed."},
	{Name: "eddy.fsync.acks.all", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Eddy extension: fsync acks=all writes before acknowledging them."},
	{Name: "eddy.sasl.authentication.timeout.ms", Type: kmsg.ConfigTypeLong, Default: "10000", HasDefault: true,
		Validate: longAtLeast(1), Doc: "Eddy extension: close a SASL connection that has not authenticated this long after it connected (or after it began re-authenticating)."},
	{Name: "eddy.transaction.version", Type: kmsg.ConfigTypeShort, Default: "2", HasDefault: true,
		Validate: intRange(16, 0, 2), Doc: "Eddy extension: the transaction.version feature the cluster finalizes, as kafka-features.sh would (set alike on every node). At 2 clients that support it run KIP-890 part 2 (an epoch bump per transaction, partitions added by the produce itself); 0 keeps every client on the original protocol."},
	{Name: "eddy.log.requests", Type: kmsg.ConfigTypeString, Default: "false", HasDefault: true,
		Validate: isRequestLog, Doc: "Eddy extension: log every Kafka request answered (client id, principal, API, version, latency, error code): true for all APIs, false for none, or a comma-separated list of API names such as Produce,Fetch."},
	{Name: "eddy.log.max.open.files", Type: kmsg.ConfigTypeInt, Default: "0", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Eddy extension: segment files kept open at once, least recently used closed first; 0 means half the process's open-file limit (RLIMIT_NOFILE)."},
	{Name: "eddy.log.verify.bytes.per.second", Type: kmsg.ConfigTypeLong, Default: "67108864", HasDefault: true,
		Validate: longAtLeast(0), Doc: "Eddy extension: rate at which segments found on disk at start-up are verified in the background (CRC of every batch); 0 turns it off (reads still verify what they serve)."},
	{Name: "eddy.metrics.enabled", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Eddy extension: count and export metrics at /metrics on the HTTP listener; false turns every series off (and /metrics answers 404)."},
	{Name: "eddy.metrics.topic.labels", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Eddy extension: export eddy_ series per topic and partition (bytes in/out, log size); false keeps only node totals, for clusters with many partitions. The kafka_ offset and lag series are always per partition."},
	{Name: "eddy.pprof.addr", Type: kmsg.ConfigTypeString,
		Validate: isString, Doc: "Eddy extension: serve Go's pprof profiles on their own listener at this address; unset, they are served on the HTTP listener only when it is on loopback."},
	{Name: "eddy.request.read.timeout.ms", Type: kmsg.ConfigTypeLong, Default: "30000", HasDefault: true,
		Validate: longAtLeast(0), Doc: "Eddy extension: close a connection whose request frame has not fully arrived this long after its first byte; 0 waits forever."},
	{Name: "group.consumer.assignors", Type: kmsg.ConfigTypeList, Default: "uniform,range", HasDefault: true,
		Validate: isString, Doc: "Server-side assignors of KIP-848 consumer groups; the first is the default."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "5000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Heartbeat interval the coordinator gives KIP-848 consumer group members."},
	{Name: "group.consumer.max.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "15000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Longest consumer.heartbeat.interval.ms a KIP-848 consumer group may be configured with."},
	{Name: "group.consumer.max.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "60000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Longest consumer.session.timeout.ms a KIP-848 consumer group may be configured with."},
	{Name: "group.consumer.min.heartbeat.interval.ms", Type: kmsg.ConfigTypeInt, Default: "5000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Shortest consumer.heartbeat.interval.ms a KIP-848 consumer group may be configured with."},
	{Name: "group.consumer.min.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "45000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Shortest consumer.session.timeout.ms a KIP-848 consumer group may be configured with."},
	{Name: "group.consumer.max.size", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Most members a KIP-848 consumer group may have."},
	{Name: "group.consumer.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "45000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Session timeout of KIP-848 consumer group members."},
	{Name: "group.initial.rebalance.delay.ms", Type: kmsg.ConfigTypeInt, Default: "3000", HasDefault: true,
		Validate: intAtLeast(0), Doc: "How long a new group waits for more members before its first rebalance."},
	{Name: "group.max.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "1800000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Longest session timeout a group member may ask for."},
	{Name: "group.max.size", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Most members a classic group may have."},
	{Name: "group.min.session.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "6000", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Shortest session timeout a group member may ask for."},
	{Name: "leader.imbalance.check.interval.seconds", Type: kmsg.ConfigTypeLong, Default: "300", HasDefault: true,
		Validate: longAtLeast(1), Doc: "How often the controller looks for partitions to give back to their preferred leaders."},
	{Name: "log.cleaner.backoff.ms", Type: kmsg.ConfigTypeLong, Default: "15000", HasDefault: true,
		Validate: longAtLeast(0), Doc: "How long an idle log cleaner thread sleeps before looking for dirty logs again."},
	{Name: "log.cleaner.dedupe.buffer.size", Type: kmsg.ConfigTypeLong, Default: "134217728", HasDefault: true,
		Validate: longAtLeast(1), Doc: "Memory for the key-to-offset maps of all log cleaner threads."},
	{Name: "log.cleaner.enable", Type: kmsg.ConfigTypeBoolean, Default: "true", HasDefault: true,
		Validate: isBool, Doc: "Run the log cleaner, which compacts topics with cleanup.policy=compact."},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: kmsg.ConfigTypeDouble, Default: "1.7976931348623157E308", HasDefault: true,
		Validate: doubleBetween(0, math.MaxFloat64), Doc: "Combined read and write rate of the log cleaner threads."},
	{Name: "log.cleaner.threads", Type: kmsg.ConfigTypeInt, Default: "1", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Number of log cleaner threads."},
	{Name: "log.dir", Type: kmsg.ConfigTypeString,
		Validate: isString, Doc: "Directory holding partition logs, used when log.dirs is unset; eddy serve derives it from --data-dir."},
	{Name: "log.dirs", Type: kmsg.ConfigTypeList,
		Validate: isString, Doc: "Comma-separated directories holding partition logs; Eddy uses the first."},
	{Name: "log.retention.check.interval.ms", Type: kmsg.ConfigTypeLong, Default: "300000", HasDefault: true,
		Validate: longAtLeast(1), Doc: "How often retention is enforced."},
	{Name: "log.retention.hours", Type: kmsg.ConfigTypeInt, Default: "168", HasDefault: true,
		Validate: intRange(32, math.MinInt32, math.MaxInt32), Doc: "Default retention in hours, used when log.retention.ms and log.retention.minutes are unset."},
	{Name: "log.retention.minutes", Type: kmsg.ConfigTypeInt,
		Validate: intRange(32, math.MinInt32, math.MaxInt32), Doc: "Default retention in minutes, used when log.retention.ms is unset."},
	{Name: "log.roll.hours", Type: kmsg.ConfigTypeInt, Default: "168", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Default segment age in hours, used when log.roll.ms is unset."},
	{Name: "log.roll.jitter.hours", Type: kmsg.ConfigTypeInt, Default: "0", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Default segment jitter in hours, used when log.roll.jitter.ms is unset."},
	{Name: "max.broker.partitions", Type: kmsg.ConfigTypeInt, Default: "100000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Most partitions this node may hold (KIP-578); creating more is refused with POLICY_VIOLATION (INVALID_PARTITIONS from CreatePartitions)."},
	{Name: "max.partitions", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Most partitions the cluster may hold (KIP-578); on a single node the same bound as max.broker.partitions."},
	{Name: "max.connection.creation.rate", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(0), Doc: "New connections per second the listener accepts; more are closed at once."},
	{Name: "max.connections", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Most connections the broker keeps open; more are closed at once."},
	{Name: "max.connections.per.ip", Type: kmsg.ConfigTypeInt, Default: "2147483647", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Most connections from one IP address; more are closed at once."},
	{Name: "max.connections.per.ip.overrides", Type: kmsg.ConfigTypeString, Default: "", HasDefault: true,
		Validate: isString, Doc: "Per-IP exceptions to max.connections.per.ip, as ip:count,ip:count."},
	{Name: "num.partitions", Type: kmsg.ConfigTypeInt, Default: "1", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Partition count of topics created without one."},
	{Name: "offsets.retention.minutes", Type: kmsg.ConfigTypeInt, Default: "10080", HasDefault: true,
		Validate: intAtLeast(1), Doc: "How long committed offsets of an empty group are kept."},
	{Name: "offset.metadata.max.bytes", Type: kmsg.ConfigTypeInt, Default: "4096", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Largest metadata string a committed offset may carry."},
	{Name: "offsets.retention.check.interval.ms", Type: kmsg.ConfigTypeLong, Default: "600000", HasDefault: true,
		Validate: longAtLeast(1), Doc: "How often expired offsets are removed."},
	{Name: "offsets.topic.num.partitions", Type: kmsg.ConfigTypeInt, Default: "50", HasDefault: true,
		Validate: intRange(32, 1, 10000), Doc: "Partition count of __consumer_offsets; fixed once the topic exists."},
	{Name: "offsets.topic.replication.factor", Type: kmsg.ConfigTypeShort, Default: "3", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Replication factor of __consumer_offsets; a cluster with fewer live brokers when it is created uses them all, a standalone node 1."},
	{Name: "offsets.topic.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Segment size of __consumer_offsets."},
	{Name: "replica.fetch.max.bytes", Type: kmsg.ConfigTypeInt, Default: "1048576", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Bytes a follower asks for per partition in one fetch from its leader (more if one batch is larger)."},
	{Name: "replica.fetch.min.bytes", Type: kmsg.ConfigTypeInt, Default: "1", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Bytes a follower's fetch waits for, up to replica.fetch.wait.max.ms."},
	{Name: "replica.fetch.response.max.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Bytes one follower fetch response may hold."},
	{Name: "replica.fetch.wait.max.ms", Type: kmsg.ConfigTypeInt, Default: "500", HasDefault: true,
		Validate: intAtLeast(0), Doc: "Longest a follower's fetch waits at the leader for replica.fetch.min.bytes."},
	{Name: "replica.lag.time.max.ms", Type: kmsg.ConfigTypeLong, Default: "30000", HasDefault: true,
		Validate: longAtLeast(1), Doc: "A follower that has not caught up with its leader for this long leaves the ISR."},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: kmsg.ConfigTypeInt, Default: "10000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "How often the transaction coordinators abort transactions open longer than their transaction.timeout.ms."},
	{Name: "transaction.max.timeout.ms", Type: kmsg.ConfigTypeInt, Default: "900000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Longest transaction.timeout.ms a transactional producer may ask for."},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: kmsg.ConfigTypeInt, Default: "3600000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "How often the transaction coordinators expire transactional ids idle past transactional.id.expiration.ms."},
	{Name: "transaction.state.log.min.isr", Type: kmsg.ConfigTypeInt, Default: "2", HasDefault: true,
		Validate: intAtLeast(1), Doc: "min.insync.replicas of __transaction_state (at most its replication factor)."},
	{Name: "transaction.state.log.num.partitions", Type: kmsg.ConfigTypeInt, Default: "50", HasDefault: true,
		Validate: intRange(32, 1, 10000), Doc: "Partition count of __transaction_state; fixed once the topic exists."},
	{Name: "transaction.state.log.replication.factor", Type: kmsg.ConfigTypeShort, Default: "3", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Replication factor of __transaction_state; a cluster with fewer live brokers when it is created uses them all, a standalone node 1."},
	{Name: "transaction.state.log.segment.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Segment size of __transaction_state."},
	{Name: "transactional.id.expiration.ms", Type: kmsg.ConfigTypeInt, Default: "604800000", HasDefault: true,
		Validate: intAtLeast(1), Doc: "A transactional id with no transaction open and no activity for this long is forgotten."},
	{Name: "queued.max.request.bytes", Type: kmsg.ConfigTypeLong, Default: "268435456", HasDefault: true,
		Validate: longAtLeast(-1), Doc: "Bytes of requests in flight across all connections (their decoded form is bounded by as much again); a connection waits for room before reading a frame. At least socket.request.max.bytes; -1 or 0 is unbounded (Kafka's default, -1)."},
	{Name: "sasl.enabled.mechanisms", Type: kmsg.ConfigTypeList, Default: "", HasDefault: true,
		Validate: listOfOrEmpty("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), Doc: "SASL mechanisms the Kafka listener accepts (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); clients must authenticate with one of them. Empty: no SASL."},
	{Name: "socket.request.max.bytes", Type: kmsg.ConfigTypeInt, Default: "104857600", HasDefault: true,
		Validate: intAtLeast(1), Doc: "Largest request frame the broker accepts."},
	{Name: "super.users", Type: kmsg.ConfigTypeString, Default: "", HasDefault: true,
		Validate: isPrincipalList, Doc: "Principals the authorizer lets do everything, separated by semicolons: User:admin;User:ops."},
}

// AuthorizerStandard is Kafka's authorizer.class.name for its ACL
// authorizer; Eddy's ACL authorizer answers to it.
const AuthorizerStandard = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// AuthorizerEnabled reports whether authorizer.class.name turns ACLs on.
func (c BrokerConfig) AuthorizerEnabled() bool { return c.String("authorizer.class.name") != "" }

// SuperUsers returns super.users as a list of principals.
func (c BrokerConfig) SuperUsers() []string { return parsePrincipals(c.String("super.users")) }

// SASLMechanisms returns sasl.enabled.mechanisms; none means SASL is off.
func (c BrokerConfig) SASLMechanisms() []string {
	return parseList(c.String("sasl.enabled.mechanisms"))
}

func parsePrincipals(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isPrincipalList accepts principals of the form Type:name separated by
// semicolons.
func isPrincipalList(s string) error {
	for _, p := range parsePrincipals(s) {
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return fmt.Errorf("%q is not a principal (want Type:name, such as User:admin)", p)
		}
	}
	return nil
}

// dynamicCleanerConfigs are the log cleaner settings Kafka lets
// AlterConfigs change at run time (LogCleaner.ReconfigurableConfigs, among
// those Eddy knows).
var dynamicCleanerConfigs = []string{"log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size",
	"log.cleaner.io.max.bytes.per.second", "log.cleaner.threads"}

// dynamicEddyConfigs are Eddy's own settings AlterConfigs may change: the
// broker applies them as they change.
var dynamicEddyConfigs = []string{"eddy.log.requests"}

var (
	brokerDefs  []ConfigDef
	brokerIndex = map[string]int{}
	// brokerDynamic holds the broker properties AlterConfigs may change
	// (Kafka's DynamicBrokerConfig.AllDynamicConfigs among those Eddy
	// knows): the first broker synonym of every topic config, which
	// Kafka's DynamicLogConfig reconfigures, dynamicCleanerConfigs and
	// dynamicEddyConfigs.
	// All are cluster-wide (Kafka's per-broker-only ones are listener and
	// TLS settings, which Eddy does not have).
	brokerDynamic = map[string]bool{}
	// brokerChain maps a broker property to the properties that can set
	// its value, itself first: log.retention.minutes → [minutes, hours].
	brokerChain = map[string][]string{}
)

func init() {
	defs := slices.Clone(brokerOnly)
	for _, e := range topicTable {
		names := make([]string, 0, len(e.syn))
		for _, s := range e.syn {
			names = append(names, s.name)
		}
		if len(names) > 0 {
			brokerDynamic[names[0]] = true
		}
		for i, s := range e.syn {
			brokerChain[s.name] = names[i:]
			if s.unit != 1 || slices.ContainsFunc(defs, func(d ConfigDef) bool { return d.Name == s.name }) {
				continue
			}
			d := e.def
			d.Name, d.BrokerSynonym, d.HasDefault = s.name, "", !s.nullDefault
			if s.nullDefault {
				d.Default = ""
			}
			d.Doc = fmt.Sprintf("Default of the topic config %s. %s", e.def.Name, e.def.Doc)
			defs = append(defs, d)
		}
	}
	for _, n := range append(slices.Clone(dynamicCleanerConfigs), dynamicEddyConfigs...) {
		brokerDynamic[n] = true
	}
	slices.SortFunc(defs, func(a, b ConfigDef) int { return cmp.Compare(a.Name, b.Name) })
	for i := range defs {
		defs[i].ReadOnly = !brokerDynamic[defs[i].Name] // read-only: set at start only
		brokerIndex[defs[i].Name] = i
	}
	brokerDefs = defs
}

// BrokerConfigDefs returns every broker property Eddy knows, sorted by name.
func BrokerConfigDefs() []ConfigDef { return slices.Clone(brokerDefs) }

func lookupBrokerConfig(name string) (ConfigDef, bool) {
	i, ok := brokerIndex[name]
	if !ok {
		return ConfigDef{}, false
	}
	return brokerDefs[i], true
}

// BrokerConfig holds Kafka broker properties: those set at start and the
// dynamic ones set through AlterConfigs. A property's value is, as in
// Kafka, the first of: this broker's dynamic config (DYNAMIC_BROKER_CONFIG),
// the cluster-wide dynamic default (DYNAMIC_DEFAULT_BROKER_CONFIG), the
// value set at start (STATIC_BROKER_CONFIG), Kafka's default. The zero
// value is Kafka's defaults. It is immutable, so safe to share.
type BrokerConfig struct {
	set            map[string]string // set at start, validated
	clusterDefault map[string]string // dynamic, resource name ""
	perBroker      map[string]string // dynamic, resource name = this broker's id
}

// layer is one source of broker property values.
type layer struct {
	m      map[string]string
	source kmsg.ConfigSource
}

// layers lists c's sources in precedence order.
func (c BrokerConfig) layers() []layer {
	return []layer{
		{c.perBroker, kmsg.ConfigSourceDynamicBrokerConfig},
		{c.clusterDefault, kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{c.set, kmsg.ConfigSourceStaticBrokerConfig},
	}
}

// WithDynamic returns c with the given dynamic configs in place of the
// ones it had: clusterDefault (resource name "") and perBroker (this
// broker's id). They are used as given; ValidateDynamicBrokerConfigs
// checks them before they are stored.
func (c BrokerConfig) WithDynamic(clusterDefault, perBroker map[string]string) BrokerConfig {
	c.clusterDefault, c.perBroker = maps.Clone(clusterDefault), maps.Clone(perBroker)
	return c
}

// Dynamic returns a copy of the dynamic configs of one level: this
// broker's (perBroker) or the cluster-wide defaults.
func (c BrokerConfig) Dynamic(perBroker bool) map[string]string {
	if perBroker {
		return maps.Clone(c.perBroker)
	}
	return maps.Clone(c.clusterDefault)
}

// ParseBrokerConfig validates settings (property name → value) and returns
// the broker configuration. An unknown name or bad value is a *ConfigError
// naming it.
func ParseBrokerConfig(settings map[string]string) (BrokerConfig, error) {
	keys := slices.Sorted(maps.Keys(settings))
	for _, k := range keys {
		def, ok := lookupBrokerConfig(k)
		if !ok {
			return BrokerConfig{}, &ConfigError{Key: k, Reason: "unknown broker config"}
		}
		if err := def.check(settings[k]); err != nil {
			return BrokerConfig{}, err
		}
	}
	return BrokerConfig{set: maps.Clone(settings)}, nil
}

// Settings returns a copy of the properties set at start.
func (c BrokerConfig) Settings() map[string]string { return maps.Clone(c.set) }

// Value returns a property's value and whether it is the default. A null
// default is returned as "". Unknown names return ("", true).
func (c BrokerConfig) Value(name string) (value string, isDefault bool) {
	if v, _, ok := c.own(name, true); ok {
		return v, false
	}
	def, _ := lookupBrokerConfig(name)
	return def.Default, true
}

// own returns the value a property has under its own name and where it
// comes from; perBroker false skips this broker's dynamic configs.
func (c BrokerConfig) own(name string, perBroker bool) (string, kmsg.ConfigSource, bool) {
	for _, l := range c.layers() {
		if !perBroker && l.source == kmsg.ConfigSourceDynamicBrokerConfig {
			continue
		}
		if v, ok := l.m[name]; ok {
			return v, l.source, true
		}
	}
	return "", 0, false
}

// String returns a property's value, trimmed. It panics on a name Eddy does
// not define: asking for one is a programming error.
func (c BrokerConfig) String(name string) string {
	c.mustKnow(name)
	v, _ := c.Value(name)
	return strings.TrimSpace(v)
}

// Int returns an integer property's value, 0 if its value is null.
func (c BrokerConfig) Int(name string) int64 {
	c.mustKnow(name)
	v, _ := c.Value(name)
	n, _ := parseInt(v, 64)
	return n
}

// Bool returns a boolean property's value.
func (c BrokerConfig) Bool(name string) bool {
	c.mustKnow(name)
	v, _ := c.Value(name)
	b, _ := parseBool(v)
	return b
}

func (c BrokerConfig) mustKnow(name string) {
	if _, ok := lookupBrokerConfig(name); !ok {
		panic(fmt.Sprintf("config: undefined broker config %q", name))
	}
}

// synonymChain lists, for properties names in precedence order, those set
// dynamically for this broker, then as cluster-wide defaults, then at
// start, and then those with a non-null default (Kafka's order).
func (c BrokerConfig) synonymChain(names []string) []ConfigSynonym {
	var out []ConfigSynonym
	for _, l := range c.layers() {
		for _, n := range names {
			if v, ok := l.m[n]; ok {
				out = append(out, ConfigSynonym{Name: n, Value: v, Source: l.source})
			}
		}
	}
	for _, n := range names {
		if def, ok := lookupBrokerConfig(n); ok && def.HasDefault {
			out = append(out, ConfigSynonym{Name: n, Value: def.Default, Source: kmsg.ConfigSourceDefaultConfig})
		}
	}
	return out
}

// DescribeBrokerConfig reports broker property name as DescribeConfigs
// shows it for this broker (perBroker) or the cluster-wide default
// resource: its own value (null if unset without a default) and, as
// synonyms, the properties that can set it.
func DescribeBrokerConfig(name string, bc BrokerConfig, perBroker bool) (ConfigValue, bool) {
	def, ok := lookupBrokerConfig(name)
	if !ok {
		return ConfigValue{}, false
	}
	return bc.describe(def, perBroker), true
}

// describe reports def as DescribeConfigs does for this broker
// (perBroker) or for the cluster-wide default resource, which, as in
// Kafka, leaves out this broker's own dynamic configs.
func (c BrokerConfig) describe(def ConfigDef, perBroker bool) ConfigValue {
	chain := brokerChain[def.Name]
	if chain == nil {
		chain = []string{def.Name}
	}
	cv := ConfigValue{Def: def, Synonyms: c.synonymChain(chain)}
	if !perBroker {
		cv.Synonyms = slices.DeleteFunc(cv.Synonyms, func(s ConfigSynonym) bool {
			return s.Source == kmsg.ConfigSourceDynamicBrokerConfig
		})
	}
	if v, src, ok := c.own(def.Name, perBroker); ok {
		cv.Value, cv.Source = v, src
	} else {
		cv.Value, cv.Null, cv.Source = def.Default, !def.HasDefault, kmsg.ConfigSourceDefaultConfig
	}
	return cv
}

// DescribeBrokerConfigs reports a BROKER config resource as Kafka does,
// in name order: for this broker (perBroker) every property it has; for
// the cluster-wide default resource (name "") only the dynamic defaults
// set. Names Eddy does not know but that were set dynamically (Kafka
// keeps such custom properties for plugins) are reported the way Kafka
// reports them: type unknown, read-only and sensitive, so without value.
func DescribeBrokerConfigs(bc BrokerConfig, perBroker bool) []ConfigValue {
	var out []ConfigValue
	for _, def := range brokerDefs {
		if _, set := bc.clusterDefault[def.Name]; perBroker || set {
			out = append(out, bc.describe(def, perBroker))
		}
	}
	custom := maps.Clone(bc.clusterDefault)
	if custom == nil {
		custom = map[string]string{}
	}
	if perBroker {
		maps.Copy(custom, bc.perBroker)
	}
	for _, name := range slices.Sorted(maps.Keys(custom)) {
		if _, known := lookupBrokerConfig(name); !known {
			def := ConfigDef{Name: name, Type: kmsg.ConfigTypeUnknown, Sensitive: true, ReadOnly: true, Validate: isString}
			out = append(out, bc.describe(def, perBroker))
		}
	}
	slices.SortFunc(out, func(a, b ConfigValue) int { return cmp.Compare(a.Def.Name, b.Def.Name) })
	return out
}

// ValidateDynamicBrokerConfigs checks the configs to be set on a BROKER
// resource, with Kafka's rules: a property Eddy knows must be one Kafka
// lets AlterConfigs change and its value valid; a name Eddy does not
// know is kept as given, as Kafka keeps custom properties. The error is a
// *ConfigError for the first offender in name order.
func ValidateDynamicBrokerConfigs(cfg map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		def, ok := lookupBrokerConfig(k)
		switch {
		case !ok:
			continue
		case !brokerDynamic[k]:
			return &ConfigError{Key: k, Reason: "cannot be updated dynamically: set it when the node starts (eddy serve --set, or the config file)"}
		}
		if err := def.check(cfg[k]); err != nil {
			return err
		}
		if v, ok := dynamicRules[k]; ok {
			def.Validate = v
			if err := def.check(cfg[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// dynamicRules are Kafka's extra checks of values set at run time
// (LogCleaner.validateReconfiguration: a running cleaner keeps a thread).
var dynamicRules = map[string]func(string) error{
	"log.cleaner.threads": intAtLeast(1),
}

// LookupBrokerConfig returns the definition of a broker property.
func LookupBrokerConfig(name string) (ConfigDef, bool) { return lookupBrokerConfig(name) }

// RequestLogAPIs returns the API keys eddy.log.requests logs: all of them
// (true), none (false) or those it names.
func (c BrokerConfig) RequestLogAPIs() map[int16]bool {
	keys, _ := parseRequestLog(c.String("eddy.log.requests"))
	return keys
}

func isRequestLog(s string) error {
	_, err := parseRequestLog(s)
	return err
}

func parseRequestLog(s string) (map[int16]bool, error) {
	byName := map[string]int16{}
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		if name := kmsg.NameForKey(key); name != "Unknown" {
			byName[strings.ToLower(name)] = key
		}
	}
	keys := map[int16]bool{}
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", "false":
		return keys, nil
	case "true":
		for _, key := range byName {
			keys[key] = true
		}
		return keys, nil
	}
	for _, name := range parseList(s) {
		key, ok := byName[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("unknown API %q: give true, false or API names such as Produce,Fetch", name)
		}
		keys[key] = true
	}
	return keys, nil
}
