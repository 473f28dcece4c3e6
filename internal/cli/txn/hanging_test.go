package txn

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCandidates(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	open := func(p int32, last int64) kadm.DescribedProducer {
		return kadm.DescribedProducer{Topic: "t", Partition: p, ProducerID: int64(p), LastTimestamp: last, CurrentTxnStartOffset: 5}
	}
	closed := kadm.DescribedProducer{Topic: "t", Partition: 9, ProducerID: 9, LastTimestamp: 0, CurrentTxnStartOffset: -1}
	prods := []kadm.DescribedProducer{open(0, 1_000_000-60_000), open(1, 1_000_000-60_001), open(2, -1), open(3, 1_000_000), closed}
	tests := []struct {
		maxAge time.Duration
		want   []int32 // partitions
	}{
		{time.Minute, []int32{1, 2}}, // older than, not equal; an unknown time counts as old
		{0, []int32{0, 1, 2}},
		{time.Hour, []int32{2}},
	}
	for _, tt := range tests {
		var got []int32
		for _, c := range candidates(prods, now, tt.maxAge) {
			got = append(got, c.Partition)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("candidates(max age %v) = partitions %v, want %v", tt.maxAge, got, tt.want)
		}
	}
}

func TestHanging(t *testing.T) {
	cand := func(topic string, p int32, pid int64) kadm.DescribedProducer {
		return kadm.DescribedProducer{Topic: topic, Partition: p, ProducerID: pid, CurrentTxnStartOffset: 1}
	}
	cands := []kadm.DescribedProducer{
		cand("a", 0, 1), // its transaction includes a-0
		cand("a", 1, 1), // the same transaction does not include a-1
		cand("a", 0, 2), // producer 2 has no transactional id
		cand("b", 0, 3), // the id of producer 3 is no longer known
		cand("b", 1, 4), // the id of producer 4 has no description
	}
	ids := map[int64]string{1: "tx-1", 3: "tx-3", 4: "tx-4"}
	descs := kadm.DescribedTransactions{
		"tx-1": {TxnID: "tx-1", State: "Ongoing", ProducerID: 1, Topics: kadm.TopicsSet{"a": {0: {}}, "c": {1: {}}}},
		"tx-3": {TxnID: "tx-3", Err: kerr.TransactionalIDNotFound},
	}
	var got []string
	for _, h := range hanging(cands, ids, descs) {
		got = append(got, h.Topic+"-"+string(rune('0'+h.Partition))+"/"+string(rune('0'+h.ProducerID)))
	}
	want := []string{"a-1/1", "a-0/2", "b-0/3", "b-1/4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hanging = %v, want %v", got, want)
	}
	if got := hanging(cands[:1], ids, descs); len(got) != 0 {
		t.Fatalf("a transaction its coordinator includes is hanging: %+v", got)
	}
}

func TestParseStates(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: nil, want: []string{}},
		{in: []string{"ongoing", " COMPLETECOMMIT ", "prepareEpochFence"}, want: []string{"Ongoing", "CompleteCommit", "PrepareEpochFence"}},
		{in: []string{"Ongoing", "Stable"}, wantErr: `unknown --state "Stable"`},
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
