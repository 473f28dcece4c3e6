package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// errNotGroupRead refuses a GroupRequest that is not a read.
var errNotGroupRead = errors.New("broker: GroupRequest answers ListGroups, DescribeGroups, ConsumerGroupDescribe and OffsetFetch only")

// GroupRequest answers a read-only group API request (ListGroups,
// DescribeGroups, ConsumerGroupDescribe or OffsetFetch, its version set)
// from the group coordinators this node hosts, without the ACL checks a
// client's request goes through: the node asks it itself, for its metrics,
// and the answers never reach a client. Groups coordinated elsewhere answer
// NOT_COORDINATOR, and ListGroups lists only the groups coordinated here.
func (b *Broker) GroupRequest(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch req.(type) {
	case *kmsg.ListGroupsRequest, *kmsg.DescribeGroupsRequest, *kmsg.ConsumerGroupDescribeRequest, *kmsg.OffsetFetchRequest:
	default:
		return nil, fmt.Errorf("%w: api key %d", errNotGroupRead, req.Key())
	}
	resp, err := b.groups.Handle(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("broker: group request: %w", err)
	}
	return resp, nil
}
