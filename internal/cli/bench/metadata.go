package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataPoll is how often firstMetadata retries; it bounds how much the
// start time is overstated.
const metadataPoll = 5 * time.Millisecond

// firstMetadata returns when addr first answered a Metadata request with at
// least one broker. It fails at deadline, or if the process exits first.
func firstMetadata(ctx context.Context, addr string, deadline time.Time, exited <-chan struct{}) (time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.RetryBackoffFn(func(int) time.Duration { return metadataPoll }),
		kgo.DialTimeout(time.Second))
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		if metadataOK(ctx, cl) {
			return time.Now(), nil
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("exited before answering Metadata")
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no Metadata answer from %s: %w", addr, ctx.Err())
		case <-time.After(metadataPoll):
		}
	}
}

func metadataOK(ctx context.Context, cl *kgo.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err == nil && len(resp.Brokers) > 0
}
