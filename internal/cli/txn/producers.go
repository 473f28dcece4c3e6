package txn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// producer is one producer of one partition, as its leader remembers it.
type producer struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	Leader           int32  `json:"leader"`
	ProducerID       int64  `json:"producer_id"`
	ProducerEpoch    int16  `json:"producer_epoch"`
	LastSequence     int32  `json:"last_sequence"`
	LastTimestamp    int64  `json:"last_timestamp"`    // ms; -1 if unknown
	CoordinatorEpoch int32  `json:"coordinator_epoch"` // -1 before any marker
	TxnStartOffset   int64  `json:"txn_start_offset"`  // -1 if no transaction is open
}

func toProducer(p kadm.DescribedProducer) producer {
	return producer{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, ProducerID: p.ProducerID,
		ProducerEpoch: p.ProducerEpoch, LastSequence: p.LastSequence, LastTimestamp: p.LastTimestamp,
		CoordinatorEpoch: p.CoordinatorEpoch, TxnStartOffset: p.CurrentTxnStartOffset}
}

func producersCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "producers TOPIC [PARTITION]",
		Short: "Describe the producers a topic's partitions remember",
		Long: `Describe the idempotent and transactional producers each partition's leader
remembers (DescribeProducers): producer ID and epoch, the last sequence number
and timestamp it wrote, the coordinator epoch of its last transaction marker,
and where its open transaction starts ("-" if none). A transaction open for
long holds read_committed consumers back at its start offset.

Examples:
  eddy txn producers orders
  eddy txn producers orders 3

  # Open transactions, for a script
  eddy txn producers orders --format json | jq '.[] | select(.txn_start_offset >= 0)'`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProducers(cmd, opts, args)
		},
	}
}

func runProducers(cmd *cobra.Command, opts *client.Options, args []string) error {
	set := kadm.TopicsSet{args[0]: {}}
	if len(args) == 2 {
		p, err := strconv.ParseInt(args[1], 10, 32)
		if err != nil || p < 0 {
			return fmt.Errorf("invalid partition %q: want a number from 0", args[1])
		}
		set.Add(args[0], int32(p))
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	prods, perr := describeProducers(cmd.Context(), adm, set)
	if prods == nil && perr != nil {
		return perr
	}
	out := make([]producer, 0, len(prods))
	rows := make([][]string, 0, len(prods))
	for _, p := range prods {
		out = append(out, toProducer(p))
		rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)),
			strconv.FormatInt(p.ProducerID, 10), strconv.Itoa(int(p.ProducerEpoch)), strconv.Itoa(int(p.LastSequence)),
			timestamp(p.LastTimestamp), strconv.Itoa(int(p.CoordinatorEpoch)), offset(p.CurrentTxnStartOffset)})
	}
	header := []string{"TOPIC", "PARTITION", "LEADER", "PRODUCER-ID", "PRODUCER-EPOCH", "LAST-SEQUENCE",
		"LAST-TIMESTAMP", "COORDINATOR-EPOCH", "TXN-START-OFFSET"}
	if err := opts.Render(cmd.OutOrStdout(), out, header, rows); err != nil {
		return err
	}
	return perr
}

// describeProducers describes the partitions of set (every partition of a
// topic given none; every topic given an empty set), sorted. Partitions
// that failed are reported in the error, next to what the others answered.
func describeProducers(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet) ([]kadm.DescribedProducer, error) {
	described, err := adm.DescribeProducers(ctx, set)
	if err != nil && len(described) == 0 {
		return nil, fmt.Errorf("describing producers: %w", err)
	}
	errs := []error{}
	if err != nil {
		errs = append(errs, fmt.Errorf("describing producers: %w", err))
	}
	for _, dp := range described.SortedPartitions() {
		if dp.Err != nil {
			errs = append(errs, fmt.Errorf("describing producers of %s-%d: %w", dp.Topic, dp.Partition, client.BrokerError(dp.Err, dp.ErrMessage)))
		}
	}
	return described.SortedProducers(), errors.Join(errs...)
}

// timestamp shows a millisecond timestamp as UTC time, "-" if unknown.
func timestamp(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}
