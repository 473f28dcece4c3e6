package bench

import (
	"time"

	"github.com/spf13/cobra"
)

// produceFlags are the flags of bench produce, also used by compare and by
// consume's fill phase.
type produceFlags struct {
	targetFlags
	cfg produceConfig
}

func (f *produceFlags) register(cmd *cobra.Command) {
	f.targetFlags.register(cmd)
	registerProduce(cmd, &f.cfg)
}

// registerProduce adds the workload flags; W1 is the default.
func registerProduce(cmd *cobra.Command, cfg *produceConfig) {
	fl := cmd.Flags()
	fl.StringVar(&cfg.topic, "topic", "eddy-bench", "topic to produce to")
	fl.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic when --create (or kfake) creates it")
	fl.IntVar(&cfg.recordSize, "record-size", 1024, "bytes of each record's value")
	fl.StringVar(&cfg.acks, "acks", "all", "acks: all (idempotent), 1 or 0")
	fl.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to produce")
	fl.Float64Var(&cfg.rate, "rate", 0, "records/s over all producers; 0 sends as fast as possible")
	fl.IntVar(&cfg.producers, "producers", 1, "producer clients, each with its own connections")
	fl.StringVar(&cfg.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fl.DurationVar(&cfg.linger, "linger", 0, "how long a batch may wait for more records")
	fl.IntVar(&cfg.maxBuffered, "max-buffered", 10000, "records a producer may hold unacknowledged before Produce blocks")
	fl.BoolVar(&cfg.create, "create", false, "create the topic with --partitions and --replication-factor if missing")
	fl.IntVar(&cfg.replicationFactor, "replication-factor", 1, "replicas of the topic when --create creates it; -1 takes the broker's default")
}

func produceCommand() *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as possible (or at --rate) and print throughput and latency",
		Long: `Produce records as fast as possible (or at --rate) and print throughput and latency.

Each record's latency runs from the Produce call to its acknowledgement and
goes into a log-bucketed histogram (within 0.8%). With --rate, records are
sent on a fixed schedule and latency runs from each record's scheduled
time, so a stall counts against every record it delays. Records/s and MB/s
count acknowledged records only, over the run including the final flush.
The defaults are workload W1: 1 KiB records, acks=all, 6 partitions, 30 s.

Examples:
  # W1 against a broker, creating the topic first
  eddy bench produce --against 127.0.0.1:9092 --create

  # W3: a fixed rate, for latency (pick half of W1's records/s)
  eddy bench produce --against 127.0.0.1:9092 --rate 50000

  # the same workload against kfake started in this process
  eddy bench produce --kfake --duration 10s

  # as JSON, with 4 producers and zstd
  eddy bench produce -b 127.0.0.1:9092 --producers 4 --compression zstd --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			tgt, err := f.resolve(f.cfg.topic, f.cfg.partitions)
			if err != nil {
				return err
			}
			defer tgt.stop()
			r, err := runProduce(ctx, tgt, f.cfg)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), f.Format, r)
		},
	}
	f.register(cmd)
	return cmd
}
