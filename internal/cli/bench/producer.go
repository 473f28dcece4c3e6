package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// produceConfig is one produce workload.
type produceConfig struct {
	topic             string
	partitions        int
	replicationFactor int
	recordSize        int
	acks              string
	duration          time.Duration
	rate              float64 // records/s over all producers; 0 = unpaced
	producers         int
	compression       string
	linger            time.Duration
	maxBuffered       int
	create            bool
}

// producer is one client and what its promises have measured.
type producer struct {
	cl       *kgo.Client
	requests produceRequests
	mu       struct {
		sync.Mutex
		hist   histogram
		errors int64
		bytes  int64
	}
}

// runProduce produces to tgt for cfg.duration and returns the figures.
func runProduce(ctx context.Context, tgt target, cfg produceConfig) (produceResult, error) {
	if err := cfg.validate(); err != nil {
		return produceResult{}, err
	}
	if cfg.create {
		if err := createTopic(ctx, tgt.conn, cfg.topic, cfg.partitions, cfg.replicationFactor); err != nil {
			return produceResult{}, err
		}
	}
	ps, err := newProducers(tgt.conn, cfg)
	if err != nil {
		return produceResult{}, err
	}
	value := make([]byte, cfg.recordSize)
	rand.Read(value) // incompressible, so --compression measures the codec's cost, not a gain
	if err := warmUp(ctx, ps, value); err != nil {
		closeProducers(ps)
		return produceResult{}, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.run(ctx, value, start, cfg) })
	}
	wg.Wait()
	return produceSummary(tgt.name, ps, time.Since(start), cfg.rate), nil
}

func (cfg produceConfig) validate() error {
	switch {
	case cfg.topic == "":
		return fmt.Errorf("--topic is empty")
	case cfg.partitions < 1:
		return fmt.Errorf("--partitions must be at least 1")
	case cfg.recordSize < 0:
		return fmt.Errorf("--record-size must not be negative")
	case cfg.producers < 1:
		return fmt.Errorf("--producers must be at least 1")
	case cfg.duration <= 0:
		return fmt.Errorf("--duration must be positive")
	case cfg.rate < 0:
		return fmt.Errorf("--rate must not be negative")
	}
	return nil
}

func newProducers(conn client.Conn, cfg produceConfig) ([]*producer, error) {
	opts, err := producerOpts(conn, cfg)
	if err != nil {
		return nil, err
	}
	ps := make([]*producer, cfg.producers)
	for i := range ps {
		ps[i] = &producer{}
		cl, err := kgo.NewClient(append(opts, kgo.WithHooks(&ps[i].requests))...)
		if err != nil {
			closeProducers(ps[:i])
			return nil, fmt.Errorf("creating producer: %w", err)
		}
		ps[i].cl = cl
	}
	return ps, nil
}

// produceRequests counts the Produce requests a client writes: a broker's
// cost (an fsync per request under acks=all) goes with requests more than
// with records, so records per request explains many a throughput figure.
type produceRequests struct {
	n atomic.Int64
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (c *produceRequests) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil { // 0: Produce
		c.n.Add(1)
	}
}

// warmUpTimeout bounds the wait for the first record.
const warmUpTimeout = 10 * time.Second

// warmUp sends one untimed record per producer, so connections, metadata
// and producer IDs are in place before the clock starts, and an unreachable
// broker or missing topic fails the run at once.
func warmUp(ctx context.Context, ps []*producer, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	for _, p := range ps {
		if err := p.cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			return fmt.Errorf("first record: %w", err)
		}
		p.requests.n.Store(0) // count the timed requests only
	}
	return nil
}

func closeProducers(ps []*producer) {
	for _, p := range ps {
		p.cl.Close()
	}
}

// deliveryTimeout bounds how long a record may wait for its ack, so a dead
// broker ends the run with errors instead of hanging the final flush.
const deliveryTimeout = 30 * time.Second

func producerOpts(conn client.Conn, cfg produceConfig) ([]kgo.Opt, error) {
	codec, err := client.Compression(cfg.compression)
	if err != nil {
		return nil, err
	}
	opts, err := conn.KgoOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.topic),
		kgo.ProducerLinger(cfg.linger),
		kgo.MaxBufferedRecords(cfg.maxBuffered),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
	)
	switch cfg.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("unknown --acks %q (want all, 1 or 0)", cfg.acks)
	}
	return opts, nil
}
