package meta

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the Kafka API
// handlers map them to error codes.
var (
	ErrTopicExists              = errors.New("meta: topic already exists")
	ErrUnknownTopic             = errors.New("meta: unknown topic")
	ErrInvalidTopic             = errors.New("meta: invalid topic name")
	ErrInvalidPartitions        = errors.New("meta: invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("meta: invalid replication factor")
	ErrInvalidConfig            = errors.New("meta: invalid config")
	ErrCorrupt                  = errors.New("meta: corrupt state file")
	// ErrStorage wraps a failure to write the state file (a full disk even
	// after the reserve gave its space back, or an I/O error). Nothing
	// changed when it is returned.
	ErrStorage = errors.New("meta: cannot write the metadata file")
)

// ConfigError says which config was rejected and why. It matches
// ErrInvalidConfig with errors.Is, so callers that only need the class can
// ignore the detail; the API handlers put Key and Reason in the reply.
type ConfigError struct {
	Key    string
	Value  string // the rejected value; empty for unknown keys
	Reason string // lowercase phrase, e.g. "must be at least -1"
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("meta: invalid config %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("meta: invalid config %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
