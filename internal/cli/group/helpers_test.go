package group

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    target
		wantErr bool
	}{
		{in: "start", want: target{kind: toStart}},
		{in: "beginning", want: target{kind: toStart}},
		{in: "oldest", want: target{kind: toStart}},
		{in: "end", want: target{kind: toEnd}},
		{in: "newest", want: target{kind: toEnd}},
		{in: "0", want: target{kind: toOffset, value: 0}},
		{in: "1200", want: target{kind: toOffset, value: 1200}},
		{in: "@0", want: target{kind: toTime, value: 0}},
		{in: "@1740787200000", want: target{kind: toTime, value: 1740787200000}},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "@", wantErr: true},
		{in: "@-5", wantErr: true},
		{in: "@soon", wantErr: true},
		{in: "START", wantErr: true},
		{in: "1.5", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v (err %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStates(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: nil, want: []string{}},
		{in: []string{"stable", "EMPTY", " Dead "}, want: []string{"Stable", "Empty", "Dead"}},
		{in: []string{"preparingrebalance", "CompletingRebalance", "assigning", "reconciling"},
			want: []string{"PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling"}},
		{in: []string{"Stable", "Sleeping"}, wantErr: `unknown --state "Sleeping"`},
		{in: []string{""}, wantErr: `unknown --state ""`},
	}
	for _, tt := range tests {
		got, err := parseStates(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseStates(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
		case err != nil || !reflect.DeepEqual(got, tt.want):
			t.Errorf("parseStates(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatAssigned(t *testing.T) {
	tests := []struct {
		in   []assignedTopic
		want string
	}{
		{in: nil, want: "-"},
		{in: []assignedTopic{{Topic: "a", Partitions: []int32{0}}}, want: "a[0]"},
		{in: []assignedTopic{{Topic: "a", Partitions: []int32{0, 2, 5}}, {Topic: "b", Partitions: []int32{1}}}, want: "a[0,2,5] b[1]"},
		{in: []assignedTopic{{Topic: "a", Partitions: nil}}, want: "a[]"},
	}
	for _, tt := range tests {
		if got := formatAssigned(tt.in); got != tt.want {
			t.Errorf("formatAssigned(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnique(t *testing.T) {
	tests := []struct{ in, want []string }{
		{in: nil, want: []string{}},
		{in: []string{"b", "a", "b", "c", "a"}, want: []string{"b", "a", "c"}},
	}
	for _, tt := range tests {
		if got := unique(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("unique(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBuildPartitionLag(t *testing.T) {
	m := &kadm.DescribedGroupMember{MemberID: "m-1"}
	listed := func(o int64) kadm.ListedOffset { return kadm.ListedOffset{Offset: o} }
	failed := kadm.ListedOffset{Err: kerr.NotLeaderForPartition}
	tests := []struct {
		name string
		in   kadm.GroupMemberLag
		want partitionLag
	}{
		{name: "committed, assigned",
			in:   kadm.GroupMemberLag{Member: m, Topic: "t", Partition: 1, Commit: kadm.Offset{At: 4, Metadata: "md"}, Start: listed(2), End: listed(10), Lag: 6},
			want: partitionLag{Topic: "t", Partition: 1, Committed: 4, LogStartOffset: 2, LogEndOffset: 10, Lag: 6, MemberID: "m-1", Metadata: "md"}},
		{name: "nothing committed, empty group",
			in:   kadm.GroupMemberLag{Topic: "t", Commit: kadm.Offset{At: -1}, Start: listed(3), End: listed(10), Lag: 7},
			want: partitionLag{Topic: "t", Committed: -1, LogStartOffset: 3, LogEndOffset: 10, Lag: 7}},
		{name: "end not listed",
			in:   kadm.GroupMemberLag{Topic: "t", Commit: kadm.Offset{At: 5}, Start: listed(0), End: failed, Lag: -1, Err: kerr.NotLeaderForPartition},
			want: partitionLag{Topic: "t", Committed: 5, LogStartOffset: 0, LogEndOffset: -1, Lag: -1, Error: kerr.NotLeaderForPartition.Error()}},
	}
	for _, tt := range tests {
		if got := buildPartitionLag(tt.in); got != tt.want {
			t.Errorf("%s: buildPartitionLag = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	// Topic a has partitions 0 (log 0..10) and 1 (log 5..8); b does not exist.
	offsets := func(a0, a1 int64) kadm.ListedOffsets {
		return kadm.ListedOffsets{"a": {0: {Topic: "a", Partition: 0, Offset: a0}, 1: {Topic: "a", Partition: 1, Offset: a1}}}
	}
	b := bounds{starts: offsets(0, 5), ends: offsets(10, 8), atTime: offsets(6, 8)}
	b.ends["b"] = map[int32]kadm.ListedOffset{-1: {Topic: "b", Partition: -1, Err: kerr.UnknownTopicOrPartition}}
	committed := kadm.Offsets{"a": {0: {Topic: "a", Partition: 0, At: 7}}}
	failedEnd := bounds{starts: b.starts, ends: offsets(10, 8)}
	failedEnd.ends["a"][1] = kadm.ListedOffset{Err: kerr.NotLeaderForPartition}

	tests := []struct {
		name       string
		to         target
		topics     []string
		partitions []int32
		b          bounds
		want       []moved
		wantErr    string
	}{
		{name: "start", to: target{kind: toStart}, topics: []string{"a"}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 0}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 5}}},
		{name: "end", to: target{kind: toEnd}, topics: []string{"a"}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 10}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 8}}},
		{name: "time", to: target{kind: toTime, value: 123}, topics: []string{"a"}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 6}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 8}}},
		{name: "offset clamped to both ends", to: target{kind: toOffset, value: 3}, topics: []string{"a"}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 3}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 5}}},
		{name: "offset past the end", to: target{kind: toOffset, value: 99}, topics: []string{"a"}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 10}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 8}}},
		{name: "chosen partitions, sorted and deduplicated", to: target{kind: toEnd}, topics: []string{"a"}, partitions: []int32{1, 0, 1}, b: b,
			want: []moved{{Topic: "a", Partition: 0, OldOffset: 7, NewOffset: 10}, {Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 8}}},
		{name: "one partition", to: target{kind: toEnd}, topics: []string{"a"}, partitions: []int32{1}, b: b,
			want: []moved{{Topic: "a", Partition: 1, OldOffset: -1, NewOffset: 8}}},
		{name: "missing partition", to: target{kind: toEnd}, topics: []string{"a"}, partitions: []int32{2}, b: b,
			wantErr: `topic "a" has no partition 2 (it has 2)`},
		{name: "unknown topic", to: target{kind: toEnd}, topics: []string{"a", "b"}, b: b,
			wantErr: `topic "b": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "topic not listed", to: target{kind: toEnd}, topics: []string{"c"}, b: b,
			wantErr: `topic "c": missing from the broker's response`},
		{name: "time not listed", to: target{kind: toTime}, topics: []string{"a"}, b: bounds{starts: b.starts, ends: b.ends},
			wantErr: "a/0: offset at time: missing from the broker's response"},
		{name: "end failed for one partition", to: target{kind: toOffset, value: 1}, topics: []string{"a"}, b: failedEnd,
			wantErr: "a/1: log end offset: NOT_LEADER_FOR_PARTITION"},
	}
	for _, tt := range tests {
		got, err := plan(tt.to, tt.topics, tt.partitions, committed, tt.b)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: plan error = %v, want %q", tt.name, err, tt.wantErr)
			}
		case err != nil || !reflect.DeepEqual(got, tt.want):
			t.Errorf("%s: plan = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}
