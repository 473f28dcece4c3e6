package replica

import (
	"context"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// Producers returns the producers this replica's log remembers, for
// DescribeProducers. Like Kafka's Partition.activeProducerState it does not
// require leadership: a follower answers from its own copy, which an admin
// client asks for by broker.
func (p *Partition) Producers(ctx context.Context) ([]storage.ProducerState, error) {
	return p.log.Producers(ctx)
}
