package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// txnConfig is one bench txn run: the produce workload its two throughput
// phases share, how often transactions commit, and the end-to-end phase.
type txnConfig struct {
	produceConfig
	commitInterval time.Duration
	e2eRate        float64 // records/s of the end-to-end phase
	brokerPID      int     // 0: no CPU figures
}

func (cfg txnConfig) validate() error {
	if err := cfg.produceConfig.validate(); err != nil {
		return err
	}
	switch {
	case cfg.acks != "all" && cfg.acks != "-1":
		return fmt.Errorf("--acks must be all: transactions and the idempotent reference need it")
	case cfg.producers != 1:
		return fmt.Errorf("--producers must be 1: each phase runs one producer")
	case cfg.rate != 0:
		return fmt.Errorf("--rate does not apply: the throughput phases run unpaced, and --e2e-rate paces the end-to-end phase")
	case cfg.commitInterval <= 0:
		return fmt.Errorf("--commit-interval must be positive")
	case cfg.e2eRate <= 0:
		return fmt.Errorf("--e2e-rate must be positive")
	case cfg.recordSize < stampSize:
		return fmt.Errorf("--record-size must be at least %d: the end-to-end phase stamps the send time in the value", stampSize)
	case cfg.brokerPID < 0:
		return fmt.Errorf("--broker-pid must not be negative")
	}
	return nil
}

// e2eTopic is the topic of the end-to-end phase, apart from the throughput
// phases' so its consumers read only what it wrote.
func (cfg txnConfig) e2eTopic() string { return cfg.topic + "-e2e" }

func txnCommand() *cobra.Command {
	var (
		tf  targetFlags
		cfg = txnConfig{commitInterval: 100 * time.Millisecond, e2eRate: 5000}
	)
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "Measure transactional produce against idempotent produce, and end-to-end latency under read_committed",
		Long: `Measure transactional produce against idempotent produce, and end-to-end latency under read_committed.

Three phases of --duration each run one after the other against the same
broker:

 1. txn: one transactional producer sends records as fast as it can and
    commits every --commit-interval (flush, then EndTxn; the next
    transaction begins when the commit returns).
 2. idempotent: the same workload as bench produce (one idempotent
    producer, acks=all), the reference for phase 1 in the same run.
 3. e2e: one transactional producer sends --e2e-rate records/s to the topic
    TOPIC-e2e, committing every --commit-interval, while two consumers, one
    read_committed and one read_uncommitted, read it from its end. Each
    record's value starts with the moment the schedule says it is due; a
    consumer's latency is from then to the poll that returned it, so a
    commit that holds the producer up counts against the records it delays.

Phases 1 and 2 print records/s, MB/s (committed records only for txn) and
produce latency, and their ratio txn/idempotent. With --broker-pid, the
broker's CPU seconds (utime + stime in /proc/PID/stat) per GB produced in
each phase, and their ratio. Phase 3 prints p50, p99 and max latency for
each consumer and how many of the committed records it saw.

Examples:
  # all three phases, 30 s each, with the broker's CPU cost
  eddy bench txn --against 127.0.0.1:9092 --create --broker-pid "$(pidof eddy)"

  # commit every 10 ms, 10 s phases, as one JSON object
  eddy bench txn --against 127.0.0.1:9092 --commit-interval 10ms --duration 10s --format json

  # the same against kfake started in this process
  eddy bench txn --kfake --duration 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.Validate(); err != nil {
				return err
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			tgt, err := tf.resolve(cfg.topic, cfg.partitions)
			if err != nil {
				return err
			}
			defer tgt.stop()
			if tf.useKfake() {
				cfg.create = true // kfake starts with only --topic
			}
			r, err := runTxn(ctx, tgt, cfg)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), tf.Format, r)
		},
	}
	tf.register(cmd)
	registerProduce(cmd, &cfg.produceConfig)
	fl := cmd.Flags()
	// Its own topic by default, so a run does not add to bench produce's.
	topic := fl.Lookup("topic")
	topic.DefValue = "eddy-bench-txn"
	topic.Value.Set(topic.DefValue) // a string flag takes any value
	fl.DurationVar(&cfg.commitInterval, "commit-interval", cfg.commitInterval, "how long each transaction runs before it commits")
	fl.Float64Var(&cfg.e2eRate, "e2e-rate", cfg.e2eRate, "records/s of the end-to-end latency phase")
	fl.IntVar(&cfg.brokerPID, "broker-pid", 0, "pid of a broker on this machine, for its CPU seconds per GB")
	return cmd
}

// runTxn runs the three phases against tgt.
func runTxn(ctx context.Context, tgt target, cfg txnConfig) (txnResult, error) {
	r := txnResult{Bench: "txn", Target: tgt.name, CommitIntervalMs: ms(cfg.commitInterval)}
	if cfg.create {
		if err := createTopic(ctx, tgt.conn, cfg.topic, cfg.partitions, cfg.replicationFactor); err != nil {
			return r, err
		}
	}
	meter := cpuMeter{pid: cfg.brokerPID}
	var txnCPU, idemCPU float64
	var err error
	txnCPU, err = meter.measure(func() (err error) {
		r.Txn, err = runTxnProduce(ctx, tgt, cfg)
		return err
	})
	if err != nil {
		return r, err
	}
	idemCPU, err = meter.measure(func() (err error) {
		r.Idempotent, err = runProduce(ctx, tgt, cfg.produceConfig)
		return err
	})
	if err != nil {
		return r, err
	}
	r.Idempotent.Bench = "idempotent"
	r.MBPerSecRatio = ratio(r.Txn.MBPerSec, r.Idempotent.MBPerSec)
	if meter.pid != 0 {
		r.TxnCPUPerGB = perGB(txnCPU, r.Txn.Bytes)
		r.IdempotentCPUPerGB = perGB(idemCPU, r.Idempotent.Bytes)
		r.CPUPerGBRatio = ratio(r.TxnCPUPerGB, r.IdempotentCPUPerGB)
	}
	if r.E2E, err = runE2E(ctx, tgt, cfg); err != nil {
		return r, err
	}
	return r, nil
}

// txnResult is what bench txn prints.
type txnResult struct {
	Bench              string        `json:"bench"`
	Target             string        `json:"target"`
	CommitIntervalMs   float64       `json:"commit_interval_ms"`
	Txn                txnProduced   `json:"txn"`
	Idempotent         produceResult `json:"idempotent"`
	MBPerSecRatio      float64       `json:"mb_per_sec_ratio"`
	TxnCPUPerGB        float64       `json:"txn_broker_cpu_s_per_gb,omitempty"`
	IdempotentCPUPerGB float64       `json:"idempotent_broker_cpu_s_per_gb,omitempty"`
	CPUPerGBRatio      float64       `json:"cpu_per_gb_ratio,omitempty"`
	E2E                e2eResult     `json:"e2e"`
}

func (r txnResult) line() string {
	s := fmt.Sprintf("%s\n%s\nratio txn/idempotent: %.2fx MB/s", r.Txn.line(), r.Idempotent.line(), r.MBPerSecRatio)
	if r.CPUPerGBRatio != 0 {
		s += fmt.Sprintf("  broker CPU %.2f s/GB txn, %.2f s/GB idempotent: %.2fx",
			r.TxnCPUPerGB, r.IdempotentCPUPerGB, r.CPUPerGBRatio)
	}
	return s + "\n" + r.E2E.line()
}

// txnProduced is what the transactional phase measured: the produce figures
// over committed records, and the commits' own latency (flush + EndTxn).
type txnProduced struct {
	produceResult
	Commits     int64   `json:"commits"`
	CommitP50Ms float64 `json:"commit_p50_ms"`
	CommitP99Ms float64 `json:"commit_p99_ms"`
	CommitMaxMs float64 `json:"commit_max_ms"`
}

func (r txnProduced) line() string {
	return fmt.Sprintf("%s  commits %d (flush+commit p50 %.2f ms  p99 %.2f ms  max %.2f ms)",
		r.produceResult.line(), r.Commits, r.CommitP50Ms, r.CommitP99Ms, r.CommitMaxMs)
}
