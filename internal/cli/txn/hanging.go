package txn

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// hangingTxn is one open transaction of one partition that no coordinator
// will finish.
type hangingTxn struct {
	producer
	IdleMs int64 `json:"idle_ms"` // since the producer's last write there; -1 if unknown
}

func hangingCommand(opts *client.Options) *cobra.Command {
	var (
		topic     string
		partition int32
		maxAge    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "hanging",
		Short: "Find open transactions no coordinator will finish",
		Long: `Find hanging transactions, as kafka-transactions.sh find-hanging does: a
partition's open transaction (DescribeProducers) whose producer last wrote
there longer ago than --max-age, and whose coordinator does not list that
partition in the producer's transaction (its transactional id is unknown,
or DescribeTransactions does not name the partition). A hanging transaction
holds the partition's last stable offset, and every read_committed
consumer, back at its start offset until it is aborted.

--max-age should be transaction.max.timeout.ms (15m by default): no live
transaction runs longer, so younger ones may just be in progress.
Without --topic every topic is searched.

Examples:
  eddy txn hanging
  eddy txn hanging --topic orders --partition 3
  eddy txn hanging --max-age 1h --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("partition") && topic == "" {
				return errors.New("--partition needs --topic")
			}
			return runHanging(cmd, opts, topic, partition, maxAge)
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "search only this topic")
	cmd.Flags().Int32Var(&partition, "partition", -1, "search only this partition of --topic")
	cmd.Flags().DurationVar(&maxAge, "max-age", 15*time.Minute, "only transactions idle longer than this (transaction.max.timeout.ms)")
	return cmd
}

func runHanging(cmd *cobra.Command, opts *client.Options, topic string, partition int32, maxAge time.Duration) error {
	set := kadm.TopicsSet{}
	if topic != "" {
		set[topic] = map[int32]struct{}{}
	}
	if partition >= 0 {
		set.Add(topic, partition)
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx := cmd.Context()
	prods, perr := describeProducers(ctx, adm, set)
	if prods == nil && perr != nil {
		return perr
	}
	now := time.Now()
	cands := candidates(prods, now, maxAge)
	var found []kadm.DescribedProducer
	if len(cands) > 0 {
		ids, descs, err := coordinatorView(cmd, adm, cands)
		if err != nil {
			return err
		}
		found = hanging(cands, ids, descs)
	}
	out := make([]hangingTxn, 0, len(found))
	rows := make([][]string, 0, len(found))
	for _, p := range found {
		h := hangingTxn{producer: toProducer(p), IdleMs: -1}
		idle := "-"
		if p.LastTimestamp >= 0 {
			h.IdleMs = now.UnixMilli() - p.LastTimestamp
			idle = (time.Duration(h.IdleMs) * time.Millisecond).String()
		}
		out = append(out, h)
		rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), strconv.FormatInt(p.ProducerID, 10),
			strconv.Itoa(int(p.ProducerEpoch)), strconv.Itoa(int(p.CoordinatorEpoch)), offset(p.CurrentTxnStartOffset),
			timestamp(p.LastTimestamp), idle})
	}
	header := []string{"TOPIC", "PARTITION", "PRODUCER-ID", "PRODUCER-EPOCH", "COORDINATOR-EPOCH", "START-OFFSET",
		"LAST-TIMESTAMP", "IDLE-FOR"}
	if err := opts.Render(cmd.OutOrStdout(), out, header, rows); err != nil {
		return err
	}
	return perr
}

// coordinatorView asks the coordinators which transactional ids the
// candidates' producers belong to, and describes those.
func coordinatorView(cmd *cobra.Command, adm *kadm.Client, cands []kadm.DescribedProducer) (map[int64]string, kadm.DescribedTransactions, error) {
	var pids []int64
	for _, c := range cands {
		pids = append(pids, c.ProducerID)
	}
	listed, err := adm.ListTransactions(cmd.Context(), pids, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the transactions of %d producers: %w", len(pids), err)
	}
	ids := map[int64]string{}
	var txnIDs []string
	for _, l := range listed {
		ids[l.ProducerID] = l.TxnID
		txnIDs = append(txnIDs, l.TxnID)
	}
	if len(txnIDs) == 0 {
		return ids, nil, nil
	}
	descs, err := adm.DescribeTransactions(cmd.Context(), txnIDs...)
	if err != nil {
		return nil, nil, fmt.Errorf("describing %d transactions: %w", len(txnIDs), err)
	}
	for id, d := range descs {
		if d.Err != nil && !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
			return nil, nil, fmt.Errorf("describing transactional id %q: %w", id, d.Err)
		}
	}
	return ids, descs, nil
}

// candidates are the open transactions whose producer last wrote to the
// partition more than maxAge before now (Kafka ages them by that
// timestamp, as the producer state keeps no start time). One whose time is
// unknown (-1, a broker restarted from older state) is a candidate too:
// the coordinators decide.
func candidates(prods []kadm.DescribedProducer, now time.Time, maxAge time.Duration) []kadm.DescribedProducer {
	var out []kadm.DescribedProducer
	for _, p := range prods {
		old := p.LastTimestamp < 0 || now.UnixMilli()-p.LastTimestamp > maxAge.Milliseconds()
		if p.CurrentTxnStartOffset >= 0 && old {
			out = append(out, p)
		}
	}
	return out
}

// hanging keeps the candidates no coordinator will finish: their producer
// has no transactional id, or its id is unknown, or its transaction does
// not include the partition. DescribeTransactions lists the partitions of
// an Ongoing transaction and, while PrepareCommit or PrepareAbort, those
// still waiting for a marker, which the coordinator will write.
func hanging(cands []kadm.DescribedProducer, ids map[int64]string, descs kadm.DescribedTransactions) []kadm.DescribedProducer {
	var out []kadm.DescribedProducer
	for _, c := range cands {
		id, ok := ids[c.ProducerID]
		if !ok {
			out = append(out, c)
			continue
		}
		d, ok := descs[id]
		if !ok || d.Err != nil {
			out = append(out, c)
			continue
		}
		if _, ok := d.Topics[c.Topic][c.Partition]; !ok {
			out = append(out, c)
		}
	}
	return out
}
