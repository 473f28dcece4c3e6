package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigDef describes one Kafka config: its name, type, default and the
// values it accepts.
type ConfigDef struct {
	Name          string
	Type          kmsg.ConfigType
	Default       string
	HasDefault    bool   // false means the default is null
	BrokerSynonym string // for a topic config, the broker property that sets its default
	Sensitive     bool
	ReadOnly      bool
	Doc           string
	// Validate reports why a value is unacceptable: the type check and any
	// range or enumeration. Its error is a lowercase reason without the name.
	Validate func(string) error
}

// check validates v against d, naming d in the error.
func (d ConfigDef) check(v string) error {
	if err := d.Validate(v); err != nil {
		return &ConfigError{Key: d.Name, Value: v, Reason: err.Error()}
	}
	return nil
}

// Parsers follow Kafka's ConfigDef: surrounding whitespace is ignored.

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("expected true or false")
}

func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("not a %d-bit integer", bits)
	}
	return n, nil
}

func parseDouble(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number")
	}
	return f, nil
}

// parseList splits a comma-separated list, trimming each element; the
// empty string is the empty list.
func parseList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Validator builders. Each returns a func for ConfigDef.Validate.

func isBool(s string) error { _, err := parseBool(s); return err }

func isString(string) error { return nil }

// intRange accepts integers of the given width in [lo, hi].
func intRange(bits int, lo, hi int64) func(string) error {
	return func(s string) error {
		n, err := parseInt(s, bits)
		if err != nil {
			return err
		}
		switch {
		case n < lo && hi == math.MaxInt64:
			return fmt.Errorf("must be at least %d", lo)
		case n < lo || n > hi:
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return nil
	}
}

func intAtLeast(lo int64) func(string) error  { return intRange(32, lo, math.MaxInt32) }
func longAtLeast(lo int64) func(string) error { return intRange(64, lo, math.MaxInt64) }

func doubleBetween(lo, hi float64) func(string) error {
	return func(s string) error {
		f, err := parseDouble(s)
		if err != nil {
			return err
		}
		if f < lo || f > hi {
			return fmt.Errorf("must be between %g and %g", lo, hi)
		}
		return nil
	}
}

// oneOf accepts exactly one of vals; foldCase makes the match
// case-insensitive, as Kafka does for compression.type.
func oneOf(foldCase bool, vals ...string) func(string) error {
	return func(s string) error {
		s = strings.TrimSpace(s)
		for _, v := range vals {
			if s == v || foldCase && strings.EqualFold(s, v) {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
	}
}

// listOf accepts a non-empty comma-separated list drawn from vals.
func listOf(vals ...string) func(string) error {
	return func(s string) error {
		parts := parseList(s)
		if len(parts) == 0 {
			return fmt.Errorf("must list at least one of %s", strings.Join(vals, ", "))
		}
		for _, p := range parts {
			if !slices.Contains(vals, p) {
				return fmt.Errorf("%q is not one of %s", p, strings.Join(vals, ", "))
			}
		}
		return nil
	}
}

// listOfOrEmpty accepts a comma-separated list drawn from vals, or none.
func listOfOrEmpty(vals ...string) func(string) error {
	all := listOf(vals...)
	return func(s string) error {
		if len(parseList(s)) == 0 {
			return nil
		}
		return all(s)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
