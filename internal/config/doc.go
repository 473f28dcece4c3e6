// Package config is Kafka's config catalog as Eddy knows it: the
// definitions of topic, broker and group configs with Kafka's names,
// types, defaults and validation, the broker's layered configuration
// (BrokerConfig: dynamic, static, default) and how DescribeConfigs
// reports each config with its synonyms.
//
// It holds definitions and pure functions only; the stored values live in
// internal/meta. Everything here is immutable after init and safe for
// concurrent use.
package config
