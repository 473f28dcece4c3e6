package config

import (
	"cmp"
	"errors"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// synonym is a broker property that supplies a topic config's default.
// unit converts its value to the topic config's unit (milliseconds for
// log.retention.hours); 1 means the same unit. nullDefault marks broker
// properties whose Kafka default is null, so the next synonym applies.
type synonym struct {
	name        string
	unit        int64
	nullDefault bool
}

const (
	minuteMs = 60 * 1000
	hourMs   = 60 * minuteMs
)

// topicEntry is a topic config with the broker properties that set its
// default, highest precedence first (Kafka's TopicConfigSynonyms).
type topicEntry struct {
	def ConfigDef
	syn []synonym
}

func same(name string) []synonym { return []synonym{{name: name, unit: 1}} }

const maxLong = math.MaxInt64

// topicTable lists the topic configs Eddy knows, with Kafka's names, types,
// defaults (as of Kafka 4.0) and validation.
var topicTable = []topicEntry{
	{ConfigDef{Name: "cleanup.policy", Type: kmsg.ConfigTypeList, Default: "delete",
		Validate: listOf("delete", "compact"),
		Doc:      "Comma-separated retention policies for old segments: delete removes them by age or size, compact keeps the latest record per key."},
		same("log.cleanup.policy")},
	{ConfigDef{Name: "compression.gzip.level", Type: kmsg.ConfigTypeInt, Default: "-1",
		Validate: gzipLevel, Doc: "Compression level when compression.type is gzip; -1 is the codec default."},
		same("compression.gzip.level")},
	{ConfigDef{Name: "compression.lz4.level", Type: kmsg.ConfigTypeInt, Default: "9",
		Validate: intRange(32, 1, 17), Doc: "Compression level when compression.type is lz4."},
		same("compression.lz4.level")},
	{ConfigDef{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: "producer",
		Validate: oneOf(true, "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		Doc:      "Codec batches are stored with; producer keeps whatever codec the producer used."},
		same("compression.type")},
	{ConfigDef{Name: "compression.zstd.level", Type: kmsg.ConfigTypeInt, Default: "3",
		Validate: intRange(32, -131072, 22), Doc: "Compression level when compression.type is zstd."},
		same("compression.zstd.level")},
	{ConfigDef{Name: "delete.retention.ms", Type: kmsg.ConfigTypeLong, Default: "86400000",
		Validate: longAtLeast(0), Doc: "How long tombstones are kept in compacted topics."},
		same("log.cleaner.delete.retention.ms")},
	{ConfigDef{Name: "file.delete.delay.ms", Type: kmsg.ConfigTypeLong, Default: "60000",
		Validate: longAtLeast(0), Doc: "Delay before a deleted segment's files are removed from disk."},
		same("log.segment.delete.delay.ms")},
	{ConfigDef{Name: "flush.messages", Type: kmsg.ConfigTypeLong, Default: itoa(maxLong),
		Validate: longAtLeast(1), Doc: "Force an fsync after this many records are appended."},
		same("log.flush.interval.messages")},
	{ConfigDef{Name: "flush.ms", Type: kmsg.ConfigTypeLong, Default: itoa(maxLong),
		Validate: longAtLeast(0), Doc: "Force an fsync when the oldest unflushed record is this old."},
		[]synonym{{"log.flush.interval.ms", 1, true}, {"log.flush.scheduler.interval.ms", 1, false}}},
	{ConfigDef{Name: "index.interval.bytes", Type: kmsg.ConfigTypeInt, Default: "4096",
		Validate: intAtLeast(0), Doc: "Bytes of log between offset index entries."},
		same("log.index.interval.bytes")},
	{ConfigDef{Name: "local.retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-2",
		Validate: longAtLeast(-2), Doc: "Tiered storage: bytes kept locally; -2 means retention.bytes. Eddy has no tiered storage."},
		same("log.local.retention.bytes")},
	{ConfigDef{Name: "local.retention.ms", Type: kmsg.ConfigTypeLong, Default: "-2",
		Validate: longAtLeast(-2), Doc: "Tiered storage: time kept locally; -2 means retention.ms. Eddy has no tiered storage."},
		same("log.local.retention.ms")},
	{ConfigDef{Name: "max.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: itoa(maxLong),
		Validate: longAtLeast(1), Doc: "Longest time a record may stay uncompacted."},
		same("log.cleaner.max.compaction.lag.ms")},
	{ConfigDef{Name: "max.message.bytes", Type: kmsg.ConfigTypeInt, Default: "1048588",
		Validate: intAtLeast(0), Doc: "Largest record batch the topic accepts."},
		same("message.max.bytes")},
	{ConfigDef{Name: "message.downconversion.enable", Type: kmsg.ConfigTypeBoolean, Default: "true",
		Validate: isBool, Doc: "Whether old consumers may fetch down-converted batches. Eddy serves only v2 batches."},
		same("log.message.downconversion.enable")},
	{ConfigDef{Name: "message.timestamp.after.max.ms", Type: kmsg.ConfigTypeLong, Default: "3600000",
		Validate: longAtLeast(0), Doc: "How far in the future a CreateTime timestamp may be."},
		same("log.message.timestamp.after.max.ms")},
	{ConfigDef{Name: "message.timestamp.before.max.ms", Type: kmsg.ConfigTypeLong, Default: itoa(maxLong),
		Validate: longAtLeast(0), Doc: "How far in the past a CreateTime timestamp may be."},
		same("log.message.timestamp.before.max.ms")},
	{ConfigDef{Name: "message.timestamp.difference.max.ms", Type: kmsg.ConfigTypeLong, Default: itoa(maxLong),
		Validate: longAtLeast(0), Doc: "Deprecated: largest difference between a CreateTime timestamp and the broker's clock."},
		same("log.message.timestamp.difference.max.ms")},
	{ConfigDef{Name: "message.timestamp.type", Type: kmsg.ConfigTypeString, Default: "CreateTime",
		Validate: oneOf(false, "CreateTime", "LogAppendTime"),
		Doc:      "Whether record timestamps are the producer's (CreateTime) or the broker's at append (LogAppendTime)."},
		same("log.message.timestamp.type")},
	{ConfigDef{Name: "min.cleanable.dirty.ratio", Type: kmsg.ConfigTypeDouble, Default: "0.5",
		Validate: doubleBetween(0, 1), Doc: "Share of uncompacted log that makes a partition eligible for compaction."},
		same("log.cleaner.min.cleanable.ratio")},
	{ConfigDef{Name: "min.compaction.lag.ms", Type: kmsg.ConfigTypeLong, Default: "0",
		Validate: longAtLeast(0), Doc: "Shortest time a record stays uncompacted."},
		same("log.cleaner.min.compaction.lag.ms")},
	{ConfigDef{Name: "min.insync.replicas", Type: kmsg.ConfigTypeInt, Default: "1",
		Validate: intAtLeast(1), Doc: "Replicas that must acknowledge an acks=all write."},
		same("min.insync.replicas")},
	{ConfigDef{Name: "preallocate", Type: kmsg.ConfigTypeBoolean, Default: "false",
		Validate: isBool, Doc: "Preallocate segment files on disk."},
		same("log.preallocate")},
	{ConfigDef{Name: "remote.storage.enable", Type: kmsg.ConfigTypeBoolean, Default: "false",
		Validate: remoteStorage, Doc: "Tiered storage for the topic. Eddy does not support tiered storage, so only false is accepted."},
		nil},
	{ConfigDef{Name: "retention.bytes", Type: kmsg.ConfigTypeLong, Default: "-1",
		Validate: longAtLeast(math.MinInt64), Doc: "Largest size a partition may grow to before old segments are deleted; -1 is unlimited."},
		same("log.retention.bytes")},
	{ConfigDef{Name: "retention.ms", Type: kmsg.ConfigTypeLong, Default: "604800000",
		Validate: longAtLeast(-1), Doc: "How long segments are kept before deletion; -1 is forever."},
		[]synonym{{"log.retention.ms", 1, true}, {"log.retention.minutes", minuteMs, true}, {"log.retention.hours", hourMs, false}}},
	{ConfigDef{Name: "segment.bytes", Type: kmsg.ConfigTypeInt, Default: "1073741824",
		Validate: intAtLeast(14), Doc: "Size at which a segment is rolled."},
		same("log.segment.bytes")},
	{ConfigDef{Name: "segment.index.bytes", Type: kmsg.ConfigTypeInt, Default: "10485760",
		Validate: intAtLeast(4), Doc: "Size of a segment's offset index."},
		same("log.index.size.max.bytes")},
	{ConfigDef{Name: "segment.jitter.ms", Type: kmsg.ConfigTypeLong, Default: "0",
		Validate: longAtLeast(0), Doc: "Random jitter subtracted from segment.ms so segments do not roll together."},
		[]synonym{{"log.roll.jitter.ms", 1, true}, {"log.roll.jitter.hours", hourMs, false}}},
	{ConfigDef{Name: "segment.ms", Type: kmsg.ConfigTypeLong, Default: "604800000",
		Validate: longAtLeast(1), Doc: "Age at which a segment is rolled even if not full."},
		[]synonym{{"log.roll.ms", 1, true}, {"log.roll.hours", hourMs, false}}},
	{ConfigDef{Name: "unclean.leader.election.enable", Type: kmsg.ConfigTypeBoolean, Default: "false",
		Validate: isBool, Doc: "Whether a replica outside the ISR may become leader, at the cost of data loss."},
		same("unclean.leader.election.enable")},
}

func gzipLevel(s string) error {
	if n, err := parseInt(s, 32); err == nil && n == -1 {
		return nil
	}
	return intRange(32, 1, 9)(s)
}

func remoteStorage(s string) error {
	on, err := parseBool(s)
	if err != nil {
		return err
	}
	if on {
		return errors.New("tiered storage is not supported")
	}
	return nil
}

var (
	topicDefs     []ConfigDef
	topicIndex    = map[string]int{}
	topicSynonyms = map[string][]synonym{}
)

func init() {
	slices.SortFunc(topicTable, func(a, b topicEntry) int { return cmp.Compare(a.def.Name, b.def.Name) })
	for i, e := range topicTable {
		e.def.HasDefault = true
		if len(e.syn) > 0 {
			e.def.BrokerSynonym = e.syn[0].name
		}
		topicDefs = append(topicDefs, e.def)
		topicIndex[e.def.Name] = i
		topicSynonyms[e.def.Name] = e.syn
	}
}

// TopicConfigDefs returns every topic config Eddy knows, sorted by name.
func TopicConfigDefs() []ConfigDef { return slices.Clone(topicDefs) }

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (ConfigDef, bool) {
	i, ok := topicIndex[name]
	if !ok {
		return ConfigDef{}, false
	}
	return topicDefs[i], true
}

// ValidateTopicConfigs checks that every key is a known topic config and
// every value acceptable. The error is a *ConfigError for the first
// offender in name order, so the message is stable.
func ValidateTopicConfigs(cfg map[string]string) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		def, ok := LookupTopicConfig(k)
		if !ok {
			return &ConfigError{Key: k, Reason: "unknown topic config"}
		}
		if err := def.check(cfg[k]); err != nil {
			return err
		}
	}
	return nil
}

// ConfigSynonym is one place a config's value can come from.
type ConfigSynonym struct {
	Name   string
	Value  string
	Null   bool // the value is null (Kafka's "no default")
	Source kmsg.ConfigSource
}

// ConfigValue is a config as DescribeConfigs reports it.
type ConfigValue struct {
	Def    ConfigDef
	Value  string
	Null   bool
	Source kmsg.ConfigSource
	// Synonyms lists every source that sets the config, highest precedence
	// first, as Kafka orders them: the topic override, then broker
	// properties set at start, then defaults.
	Synonyms []ConfigSynonym
}

// DescribeTopicConfig reports topic config name for a topic with the given
// overrides on a broker configured as bc.
func DescribeTopicConfig(name string, overrides map[string]string, bc BrokerConfig) (ConfigValue, bool) {
	def, ok := LookupTopicConfig(name)
	if !ok {
		return ConfigValue{}, false
	}
	cv := ConfigValue{Def: def, Synonyms: topicSynonymChain(def, overrides, bc)}
	if len(cv.Synonyms) == 0 {
		cv.Value, cv.Source = def.Default, kmsg.ConfigSourceDefaultConfig
		return cv, true
	}
	first := cv.Synonyms[0]
	cv.Source = first.Source
	cv.Value = first.Value
	if first.Source != kmsg.ConfigSourceDynamicTopicConfig {
		cv.Value = convertSynonym(first, topicSynonyms[name])
	}
	return cv, true
}

// topicSynonymChain lists, in precedence order, the override, the broker
// synonyms set at start, and the broker synonyms' non-null defaults.
func topicSynonymChain(def ConfigDef, overrides map[string]string, bc BrokerConfig) []ConfigSynonym {
	var out []ConfigSynonym
	if v, ok := overrides[def.Name]; ok {
		out = append(out, ConfigSynonym{Name: def.Name, Value: v, Source: kmsg.ConfigSourceDynamicTopicConfig})
	}
	names := make([]string, 0, len(topicSynonyms[def.Name]))
	for _, s := range topicSynonyms[def.Name] {
		names = append(names, s.name)
	}
	return append(out, bc.synonymChain(names)...)
}

// convertSynonym turns a broker synonym's value into the topic config's
// unit: log.retention.hours=1 is retention.ms=3600000. Negative times mean
// "forever" and become -1, as in Kafka.
func convertSynonym(s ConfigSynonym, syns []synonym) string {
	for _, sy := range syns {
		if sy.name != s.Name || sy.unit == 1 {
			continue
		}
		n, err := parseInt(s.Value, 64)
		if err != nil {
			return s.Value
		}
		if n < 0 {
			return "-1"
		}
		return itoa(n * sy.unit)
	}
	return s.Value
}
