package bench

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// compareResult is what bench compare prints: the same produce and consume
// workload against a broker and against an in-process kfake, and their ratios.
type compareResult struct {
	Bench        string        `json:"bench"`
	Produce      produceResult `json:"produce"`
	Consume      consumeResult `json:"consume"`
	KfakeProduce produceResult `json:"kfake_produce"`
	KfakeConsume consumeResult `json:"kfake_consume"`
	ProduceRatio float64       `json:"produce_mb_per_sec_ratio"`
	ConsumeRatio float64       `json:"consume_mb_per_sec_ratio"`
	P99Ratio     float64       `json:"produce_p99_ratio"`
}

func (r compareResult) line() string {
	return fmt.Sprintf("%s\n%s\n%s\n%s\nratio %s/kfake: produce %.2fx MB/s  consume %.2fx MB/s  produce p99 %.2fx",
		r.Produce.line(), r.Consume.line(), r.KfakeProduce.line(), r.KfakeConsume.line(),
		r.Produce.Target, r.ProduceRatio, r.ConsumeRatio, r.P99Ratio)
}

func compareCommand() *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run produce then consume against a broker and against in-process kfake, and print the ratios",
		Long: `Run produce then consume against a broker and against in-process kfake, and print the ratios.

The produce workload (W1 by default) runs against --against, then the
consume workload reads back everything the topic holds (W2); then kfake,
franz-go's in-memory fake broker, starts in this process on a free port and
the same two workloads run against it through the same client code. Five
lines come out: the four results and the ratios broker/kfake of produce
MB/s, consume MB/s and produce p99 latency (lower is better for p99).
This is the command behind the figures in docs/benchmarks.md.

Examples:
  # W1 + W2 against a broker and against kfake, 30 s of produce each
  eddy bench compare --against 127.0.0.1:9092 --create

  # shorter, as one JSON object
  eddy bench compare --against 127.0.0.1:9092 --create --duration 10s --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			if f.useKfake() {
				return fmt.Errorf("compare already runs against kfake: give --against a broker address")
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			tgt, err := f.realTarget()
			if err != nil {
				return err
			}
			r, err := runCompare(ctx, tgt, f.cfg)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), f.Format, r)
		},
	}
	f.register(cmd)
	return cmd
}

// runCompare runs produce+consume against tgt, then against a fresh kfake.
func runCompare(ctx context.Context, tgt target, cfg produceConfig) (compareResult, error) {
	r := compareResult{Bench: "compare"}
	var err error
	if r.Produce, r.Consume, err = produceThenConsume(ctx, tgt, cfg); err != nil {
		return r, err
	}
	fake, err := startKfake(cfg.topic, cfg.partitions)
	if err != nil {
		return r, err
	}
	defer fake.stop()
	if r.KfakeProduce, r.KfakeConsume, err = produceThenConsume(ctx, fake, cfg); err != nil {
		return r, err
	}
	r.ProduceRatio = ratio(r.Produce.MBPerSec, r.KfakeProduce.MBPerSec)
	r.ConsumeRatio = ratio(r.Consume.MBPerSec, r.KfakeConsume.MBPerSec)
	r.P99Ratio = ratio(r.Produce.P99Ms, r.KfakeProduce.P99Ms)
	return r, nil
}

func produceThenConsume(ctx context.Context, tgt target, cfg produceConfig) (produceResult, consumeResult, error) {
	p, err := runProduce(ctx, tgt, cfg)
	if err != nil {
		return p, consumeResult{}, err
	}
	c, err := runConsume(ctx, tgt, consumeConfig{topic: cfg.topic})
	return p, c, err
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
