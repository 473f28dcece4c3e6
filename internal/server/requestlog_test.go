package server

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFirstErrorCode(t *testing.T) {
	produce := func(codes ...int16) kmsg.Response {
		r := kmsg.NewPtrProduceResponse()
		rt := kmsg.NewProduceResponseTopic()
		for _, c := range codes {
			p := kmsg.NewProduceResponseTopicPartition()
			p.ErrorCode = c
			rt.Partitions = append(rt.Partitions, p)
		}
		r.Topics = append(r.Topics, rt)
		return r
	}
	fetch := kmsg.NewPtrFetchResponse()
	fetch.ErrorCode = kerr.FetchSessionIDNotFound.Code
	fetch.Topics = []kmsg.FetchResponseTopic{{Partitions: []kmsg.FetchResponseTopicPartition{{ErrorCode: kerr.NotLeaderForPartition.Code}}}}
	for _, tc := range []struct {
		name string
		resp kmsg.Response
		want int16
	}{
		{"no error", produce(0, 0), 0},
		{"a partition's", produce(0, kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code), kerr.NotLeaderForPartition.Code},
		{"top level first", fetch, kerr.FetchSessionIDNotFound.Code},
		{"no partitions", kmsg.NewPtrMetadataResponse(), 0},
		{"nil", nil, 0},
	} {
		if got := firstErrorCode(reflect.ValueOf(tc.resp)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
