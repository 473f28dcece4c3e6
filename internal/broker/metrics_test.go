package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorName(t *testing.T) {
	for _, tc := range []struct {
		code int16
		want string
	}{
		{0, "NONE"},
		{kerr.NotLeaderForPartition.Code, "NOT_LEADER_OR_FOLLOWER"},
		{kerr.UnknownTopicOrPartition.Code, "UNKNOWN_TOPIC_OR_PARTITION"},
		{-1, "UNKNOWN_SERVER_ERROR"},
		{9999, "UNKNOWN_9999"},
	} {
		if got := ErrorName(tc.code); got != tc.want {
			t.Errorf("ErrorName(%d) = %s, want %s", tc.code, got, tc.want)
		}
	}
}
