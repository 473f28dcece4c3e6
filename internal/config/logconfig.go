package config

import (
	"slices"
	"strings"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// ResolveLogConfig computes a partition's log policy: a topic override
// wins over the broker's setting of the synonym (log.retention.ms, ...),
// which wins over Kafka's default. Invalid overrides, which validation
// keeps out of the store, fall through to the next source.
func ResolveLogConfig(overrides map[string]string, bc BrokerConfig) storage.LogConfig {
	lc := storage.DefaultLogConfig()
	get := func(name string) string { return effectiveTopicValue(name, overrides, bc) }
	num := func(name string, dst *int64) {
		if n, err := parseInt(get(name), 64); err == nil {
			*dst = n
		}
	}
	num("segment.bytes", &lc.SegmentBytes)
	num("segment.ms", &lc.SegmentMs)
	num("segment.index.bytes", &lc.SegmentIndexBytes)
	num("index.interval.bytes", &lc.IndexIntervalBytes)
	num("retention.ms", &lc.RetentionMs)
	num("retention.bytes", &lc.RetentionBytes)
	num("flush.messages", &lc.FlushMessages)
	num("flush.ms", &lc.FlushMs)
	num("max.message.bytes", &lc.MaxMessageBytes)
	num("file.delete.delay.ms", &lc.FileDeleteDelayMs)
	num("min.compaction.lag.ms", &lc.MinCompactionLagMs)
	num("max.compaction.lag.ms", &lc.MaxCompactionLagMs)
	num("delete.retention.ms", &lc.DeleteRetentionMs)
	num("min.insync.replicas", &lc.MinInsyncReplicas)
	if f, err := parseDouble(get("min.cleanable.dirty.ratio")); err == nil {
		lc.MinCleanableDirtyRatio = f
	}
	lc.RetentionMs = max(lc.RetentionMs, -1)
	lc.RetentionBytes = max(lc.RetentionBytes, -1)
	if strings.TrimSpace(get("message.timestamp.type")) == "LogAppendTime" {
		lc.TimestampType = storage.LogAppendTime
	}
	policy := parseList(get("cleanup.policy"))
	lc.Compact = slices.Contains(policy, "compact")
	lc.Delete = slices.Contains(policy, "delete")
	return lc
}

// effectiveTopicValue is the first valid value along the topic config's
// synonym chain, or its Kafka default.
func effectiveTopicValue(name string, overrides map[string]string, bc BrokerConfig) string {
	def, _ := LookupTopicConfig(name)
	if v, ok := overrides[name]; ok && def.Validate(v) == nil {
		return v
	}
	for _, s := range topicSynonymChain(def, nil, bc) {
		if bd, ok := lookupBrokerConfig(s.Name); ok && bd.Validate(s.Value) == nil {
			return convertSynonym(s, topicSynonyms[name])
		}
	}
	return def.Default
}
