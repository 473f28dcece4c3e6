package bench

import (
	"time"

	"github.com/spf13/cobra"
)

func consumeCommand() *cobra.Command {
	var (
		tf   targetFlags
		cfg  consumeConfig
		fill = w1Fill()
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the start of every partition and print throughput",
		Long: `Read a topic from the start of every partition and print throughput.

No consumer group is joined: every partition is read from its first offset.
The run stops after --records records or --duration, whichever comes first;
with neither, it reads exactly what the topic held when it started (W2:
everything W1 wrote). An in-process kfake starts empty, so with --kfake the
topic is first filled by an untimed produce run of --fill (W1: acks=all,
--record-size 1024, --partitions 6).

Examples:
  # W2: read back everything in the topic
  eddy bench consume --against 127.0.0.1:9092

  # at most one million records, or 20 s
  eddy bench consume --against 127.0.0.1:9092 --records 1000000 --duration 20s

  # against kfake, filled for 10 s first
  eddy bench consume --kfake --fill 10s --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.Validate(); err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			fill.topic = cfg.topic
			tgt, err := tf.resolve(fill.topic, fill.partitions)
			if err != nil {
				return err
			}
			defer tgt.stop()
			if tf.useKfake() {
				if _, err := runProduce(ctx, tgt, fill); err != nil {
					return err
				}
			}
			r, err := runConsume(ctx, tgt, cfg)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), tf.Format, r)
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cfg.topic, "topic", "eddy-bench", "topic to read")
	fl.Int64Var(&cfg.records, "records", 0, "stop after this many records (0: no limit)")
	fl.DurationVar(&cfg.duration, "duration", 0, "stop after this long (0: no limit)")
	fl.DurationVar(&fill.duration, "fill", fill.duration, "with --kfake, how long to produce before consuming")
	fl.IntVar(&fill.partitions, "partitions", fill.partitions, "with --kfake, partitions of the topic")
	fl.IntVar(&fill.recordSize, "record-size", fill.recordSize, "with --kfake, bytes of each record's value")
	return cmd
}

// w1Fill is the produce workload that fills an empty kfake: W1 with its
// duration set by --fill.
func w1Fill() produceConfig {
	return produceConfig{
		partitions: 6, recordSize: 1024, acks: "all", producers: 1,
		compression: "none", maxBuffered: 10000, duration: 10 * time.Second,
	}
}
