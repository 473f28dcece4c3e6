package group

import (
	"fmt"
	"strings"
	"testing"
)

func TestAssignors(t *testing.T) {
	sub := func(topics ...string) map[string]bool {
		out := map[string]bool{}
		for _, t := range topics {
			out[t] = true
		}
		return out
	}
	prev := func(tps ...topicPartition) tpSet {
		out := tpSet{}
		for _, tp := range tps {
			out[tp] = true
		}
		return out
	}
	inst := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		assign     func([]assignMember, map[string]int32) map[string]tpSet
		members    []assignMember
		partitions map[string]int32
		want       string
	}{
		{"uniform even", assignUniform, []assignMember{{id: "a", topics: sub("t")}, {id: "b", topics: sub("t")}, {id: "c", topics: sub("t")}},
			map[string]int32{"t": 6}, "a=[t/0 t/3] b=[t/1 t/4] c=[t/2 t/5]"},
		{"uniform sticky", assignUniform, []assignMember{{id: "a", topics: sub("t"), previous: prev(topicPartition{"t", 0}, topicPartition{"t", 1}, topicPartition{"t", 2})},
			{id: "b", topics: sub("t"), previous: prev(topicPartition{"t", 3}, topicPartition{"t", 4}, topicPartition{"t", 5})}, {id: "c", topics: sub("t")}},
			map[string]int32{"t": 6}, "a=[t/1 t/2] b=[t/4 t/5] c=[t/0 t/3]"},
		{"uniform uneven subscriptions", assignUniform, []assignMember{{id: "a", topics: sub("t", "u")}, {id: "b", topics: sub("u")}},
			map[string]int32{"t": 2, "u": 2}, "a=[t/0 t/1] b=[u/0 u/1]"},
		{"uniform drops gone partitions", assignUniform, []assignMember{{id: "a", topics: sub("t"), previous: prev(topicPartition{"t", 5}, topicPartition{"x", 0})}},
			map[string]int32{"t": 2}, "a=[t/0 t/1]"},
		{"range", assignRange, []assignMember{{id: "b", topics: sub("t", "u")}, {id: "a", topics: sub("t", "u")}},
			map[string]int32{"t": 3, "u": 1}, "a=[t/0 t/1 u/0] b=[t/2]"},
		{"range static first", assignRange, []assignMember{{id: "a", topics: sub("t")}, {id: "z", instanceID: inst("i"), topics: sub("t")}},
			map[string]int32{"t": 3}, "a=[t/2] z=[t/0 t/1]"},
		{"no members", assignRange, nil, map[string]int32{"t": 3}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.assign(tc.members, tc.partitions)
			var parts []string
			for _, m := range []string{"a", "b", "c", "z"} {
				if s, ok := got[m]; ok {
					var tps []string
					for _, tp := range s.sorted() {
						tps = append(tps, fmt.Sprintf("%s/%d", tp.topic, tp.partition))
					}
					parts = append(parts, m+"=["+strings.Join(tps, " ")+"]")
				}
			}
			if s := strings.Join(parts, " "); s != tc.want {
				t.Fatalf("got %s, want %s", s, tc.want)
			}
		})
	}
}
