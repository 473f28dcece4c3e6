package group

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// targetKind is what seek's --to names.
type targetKind int

const (
	toStart targetKind = iota
	toEnd
	toOffset
	toTime
)

// target is a parsed --to: a kind, and for toOffset the offset or for
// toTime the Unix milliseconds.
type target struct {
	kind  targetKind
	value int64
}

// parseTarget parses start, end, OFFSET or @TIMESTAMP_MS. The spellings of
// start and end that consume accepts for --offset work here too.
func parseTarget(s string) (target, error) {
	switch s {
	case "start", "beginning", "oldest":
		return target{kind: toStart}, nil
	case "end", "newest":
		return target{kind: toEnd}, nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return target{}, fmt.Errorf("invalid --to %q: want @ followed by Unix milliseconds", s)
		}
		return target{kind: toTime, value: n}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return target{}, fmt.Errorf("invalid --to %q: want start, end, an offset (0 or more) or @TIMESTAMP_MS", s)
	}
	return target{kind: toOffset, value: n}, nil
}

// bounds are the listed offsets a seek is planned from.
type bounds struct {
	starts, ends kadm.ListedOffsets
	atTime       kadm.ListedOffsets // only for toTime
}

// plan works out the move of every partition of topics (only those in
// partitions, if any are given). It fails as a whole if any topic or
// partition cannot be resolved, so that a seek never commits half its moves.
func plan(to target, topics []string, partitions []int32, committed kadm.Offsets, b bounds) ([]moved, error) {
	var (
		out  []moved
		errs []error
	)
	for _, t := range topics {
		ps, err := topicPartitions(t, b.ends, partitions)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range ps {
			m := moved{Topic: t, Partition: p, OldOffset: -1}
			if c, ok := committed.Lookup(t, p); ok && c.At >= 0 {
				m.OldOffset = c.At
			}
			if m.NewOffset, err = to.resolve(t, p, b); err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", t, p, err))
				continue
			}
			out = append(out, m)
		}
	}
	return out, errors.Join(errs...)
}

// topicPartitions returns the sorted partitions of t that ends lists, kept
// to only if that is non-empty. A topic the broker does not know is listed
// with partition -1 carrying the error.
func topicPartitions(t string, ends kadm.ListedOffsets, only []int32) ([]int32, error) {
	listed := ends[t]
	if o, ok := listed[-1]; ok && o.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", t, o.Err)
	}
	if len(listed) == 0 {
		return nil, fmt.Errorf("topic %q: missing from the broker's response", t)
	}
	all := slices.Sorted(maps.Keys(listed))
	if len(only) == 0 {
		return all, nil
	}
	var out []int32
	for _, p := range unique32(only) {
		if _, ok := listed[p]; !ok {
			return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", t, p, len(all))
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// resolve returns the offset that to names for partition p of t.
func (to target) resolve(t string, p int32, b bounds) (int64, error) {
	switch to.kind {
	case toStart:
		return lookup(b.starts, "log start offset", t, p)
	case toEnd:
		return lookup(b.ends, "log end offset", t, p)
	case toTime:
		return lookup(b.atTime, "offset at time", t, p)
	}
	start, err := lookup(b.starts, "log start offset", t, p)
	if err != nil {
		return 0, err
	}
	end, err := lookup(b.ends, "log end offset", t, p)
	if err != nil {
		return 0, err
	}
	// Like kafka-consumer-groups.sh: an offset outside the log would make
	// the consumer fall back to its reset policy, which is rarely meant.
	return min(max(to.value, start), end), nil
}

func lookup(l kadm.ListedOffsets, what, t string, p int32) (int64, error) {
	o, ok := l.Lookup(t, p)
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: missing from the broker's response", what)
	case o.Err != nil:
		return 0, fmt.Errorf("%s: %w", what, o.Err)
	}
	return o.Offset, nil
}

func unique32(ps []int32) []int32 {
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}
