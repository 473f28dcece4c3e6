package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupConfigOverrides checks that a group's consumer.* configs win
// over the broker's for that group only: the heartbeat interval a member
// is told, and the session after which a silent member is removed.
func TestGroupConfigOverrides(t *testing.T) {
	configs := map[string]map[string]string{
		"tuned": {"consumer.heartbeat.interval.ms": "700", "consumer.session.timeout.ms": "2000"},
	}
	now := time.Unix(1_700_000_000, 0)
	c := newCoordinator(coreConfig{
		settings: settings{heartbeatInterval: 5 * time.Second, consumerSession: 45 * time.Second, consumerMaxSize: 10, assignors: []string{assignorUniform},
			retentionCheck: time.Hour},
		topics:    func() map[string]int32 { return map[string]int32{"t": 2} },
		topicID:   testTopicID,
		topicName: testTopicName,
		newUUID:   func() string { return "u" },
		groupConfig: func(group, name string) (string, bool) {
			v, ok := configs[group][name]
			return v, ok
		},
	})
	c.loaded(now)
	join := func(id replyID, group string) *kmsg.ConsumerGroupHeartbeatResponse {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version, r.Group, r.MemberID, r.MemberEpoch = 1, group, group+"-member", 0
		r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.Topics = 30000, []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		c.handle(now, id, ClientInfo{ClientID: "c", Host: "/h"}, r)
		for _, rep := range c.ready().replies {
			if rep.id == id {
				return rep.resp.(*kmsg.ConsumerGroupHeartbeatResponse)
			}
		}
		t.Fatalf("no reply to the join of %s", group)
		return nil
	}
	for i, tc := range []struct {
		group    string
		interval int32
	}{{"tuned", 700}, {"plain", 5000}} {
		if resp := join(replyID(i+1), tc.group); resp.ErrorCode != 0 || resp.HeartbeatIntervalMillis != tc.interval {
			t.Errorf("%s: error %d, heartbeat interval %d, want %d", tc.group, resp.ErrorCode, resp.HeartbeatIntervalMillis, tc.interval)
		}
	}
	if d, ok := c.deadline(); !ok || d.Sub(now) != 2*time.Second {
		t.Fatalf("first deadline %v after the joins, want the tuned group's 2s session", d.Sub(now))
	}
	c.tick(now.Add(2 * time.Second))
	members := func(group string) int {
		if g := c.groups[group]; g != nil && g.cg != nil {
			return len(g.cg.members)
		}
		return 0
	}
	if n := members("tuned"); n != 0 {
		t.Errorf("tuned group keeps %d members after its 2s session", n)
	}
	if n := members("plain"); n != 1 {
		t.Errorf("plain group has %d members 2s in, want 1 (45s session)", n)
	}
}
