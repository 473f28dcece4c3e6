package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeConfig is one consume workload: read topic from the start of every
// partition, without a group, until records are read or duration passes.
// With neither set it reads what the topic held when the run started.
type consumeConfig struct {
	topic    string
	records  int64
	duration time.Duration
}

// runConsume consumes from tgt and returns the figures.
func runConsume(ctx context.Context, tgt target, cfg consumeConfig) (consumeResult, error) {
	cl, err := tgt.conn.NewClient(
		kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return consumeResult{}, fmt.Errorf("creating consumer: %w", err)
	}
	defer cl.Close()
	if cfg.records == 0 && cfg.duration == 0 {
		if cfg.records, err = topicRecords(ctx, cl, cfg.topic); err != nil {
			return consumeResult{}, err
		}
	}
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	return consume(ctx, cl, tgt.name, cfg.records)
}

// topicRecords returns how many records topic holds now, summed over its
// partitions.
func topicRecords(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	if n == 0 {
		return 0, fmt.Errorf("topic %s is empty: produce first, or pass --records or --duration", topic)
	}
	return n, nil
}

// consume polls until want records (0 = no limit) arrive or ctx ends.
func consume(ctx context.Context, cl *kgo.Client, name string, want int64) (consumeResult, error) {
	r := consumeResult{Bench: "consume", Target: name}
	start := time.Now()
	last := start
	for want == 0 || r.Records < want {
		fetches := cl.PollFetches(ctx)
		if err := fetchError(ctx, fetches); err != nil {
			return consumeResult{}, err
		}
		if ctx.Err() != nil {
			break
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			r.Records++
			r.Bytes += int64(len(rec.Key) + len(rec.Value))
		})
		last = time.Now()
	}
	elapsed := last.Sub(start)
	r.Seconds = elapsed.Seconds()
	r.RecordsPerSec = perSec(float64(r.Records), elapsed)
	r.MBPerSec = perSec(float64(r.Bytes)/megabyte, elapsed)
	return r, nil
}

// fetchError returns the first fetch error other than the end of ctx.
func fetchError(ctx context.Context, fetches kgo.Fetches) error {
	for _, fe := range fetches.Errors() {
		if ctx.Err() != nil && (errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded)) {
			continue
		}
		return fmt.Errorf("fetching %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
	}
	return nil
}
