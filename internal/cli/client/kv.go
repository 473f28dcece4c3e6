package client

import (
	"fmt"
	"strings"
)

// KV is one key=value pair from a repeatable flag such as --config or
// --header, kept in the order the user gave it.
type KV struct {
	Key   string
	Value string
}

// ParseKVs splits each "key=value" at its first '='; the value may itself
// contain '=' or ','. An empty key or a missing '=' is an error naming flag.
func ParseKVs(flag string, pairs []string) ([]KV, error) {
	kvs := make([]KV, 0, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --%s %q: want key=value", flag, p)
		}
		kvs = append(kvs, KV{Key: k, Value: v})
	}
	return kvs, nil
}
