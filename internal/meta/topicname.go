package meta

import (
	"fmt"
	"strings"
)

// MaxTopicNameLen is Kafka's limit: 255 minus room for a partition suffix
// and the ".deleted" marker in directory names.
const MaxTopicNameLen = 249

// ValidateTopicName applies Kafka's rules: 1 to 249 characters from
// [a-zA-Z0-9._-], and not "." or "..". The error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrInvalidTopic, name)
	case len(name) > MaxTopicNameLen:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidTopic, MaxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicByte(name[i]) {
			return fmt.Errorf("%w: %q contains a character other than ASCII letters, digits, '.', '_' and '-'", ErrInvalidTopic, name)
		}
	}
	return nil
}

func legalTopicByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// collisionKey maps names that Kafka considers colliding to one key:
// metric names replace '.' with '_', so "a.b" and "a_b" cannot coexist.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// Internal topic names: the group and transaction coordinators' state.
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"
	TransactionStateTopic = "__transaction_state"
)

// IsInternalTopic reports whether Kafka treats name as an internal topic.
func IsInternalTopic(name string) bool {
	return name == ConsumerOffsetsTopic || name == TransactionStateTopic
}
