package config

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig is the class of every rejected config. Its text keeps
// the "meta:" prefix it had before the catalog left internal/meta: the
// API handlers send error texts to clients, whose view must not change.
var ErrInvalidConfig = errors.New("meta: invalid config")

// ConfigError says which config was rejected and why. It matches
// ErrInvalidConfig with errors.Is, so callers that only need the class can
// ignore the detail; the API handlers put Key and Reason in the reply.
type ConfigError struct {
	Key    string
	Value  string // the rejected value; empty for unknown keys
	Reason string // lowercase phrase, e.g. "must be at least -1"
}

// Error keeps the "meta:" prefix for the reason ErrInvalidConfig does.
func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("meta: invalid config %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("meta: invalid config %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
