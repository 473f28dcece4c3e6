package txn

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// described is everything describe prints for one transactional id.
type described struct {
	TransactionalID string        `json:"transactional_id"`
	Coordinator     int32         `json:"coordinator"`
	State           string        `json:"state"`
	ProducerID      int64         `json:"producer_id"`
	ProducerEpoch   int16         `json:"producer_epoch"`
	TimeoutMs       int32         `json:"timeout_ms"`
	StartTimestamp  int64         `json:"start_timestamp"` // ms; -1 when no transaction has started
	Partitions      []txPartition `json:"partitions"`
}

// txPartition is a partition of the transaction: one it wrote to while
// Ongoing, one still waiting for its marker while PrepareCommit/Abort.
type txPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func describeCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Describe transactional ids: state, producer, timeout and partitions",
		Long: `Describe transactional ids as their coordinators see them: the state, the
producer ID and epoch, the transaction timeout, when the current transaction
started and how long it has run, and its partitions (those it wrote to while
Ongoing; those still waiting for their marker while PrepareCommit or
PrepareAbort).

Examples:
  eddy txn describe billing-writer-0
  eddy txn describe billing-writer-0 billing-writer-1 --format json | jq '.[] | {transactional_id, state}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, opts, args)
		},
	}
}

func runDescribe(cmd *cobra.Command, opts *client.Options, ids []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	descs, err := adm.DescribeTransactions(cmd.Context(), ids...)
	if err != nil {
		return fmt.Errorf("describing transactions: %w", err)
	}
	var (
		out  []described
		errs []error
	)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		d, ok := descs[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("describing transactional id %q: missing from the broker's response", id))
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("describing transactional id %q: %w", id, d.Err))
		default:
			out = append(out, buildDescribed(d))
		}
	}
	if len(out) > 0 || opts.JSONOutput() {
		now := time.Now()
		print := func(w io.Writer, d described) error { return printOneDescribed(w, d, now) }
		if err := client.PrintEach(cmd.OutOrStdout(), opts, out, print); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func buildDescribed(d kadm.DescribedTransaction) described {
	out := described{TransactionalID: d.TxnID, Coordinator: d.Coordinator, State: d.State, ProducerID: d.ProducerID,
		ProducerEpoch: d.ProducerEpoch, TimeoutMs: d.TimeoutMillis, StartTimestamp: d.StartTimestamp, Partitions: []txPartition{}}
	d.Topics.Each(func(t string, p int32) { out.Partitions = append(out.Partitions, txPartition{t, p}) })
	slices.SortFunc(out.Partitions, func(a, b txPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

func printOneDescribed(w io.Writer, d described, now time.Time) error {
	started, running := "-", "-"
	if d.StartTimestamp >= 0 {
		started = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano)
		running = now.Sub(time.UnixMilli(d.StartTimestamp)).Round(time.Millisecond).String()
	}
	summary := [][]string{
		{"TRANSACTIONAL-ID", d.TransactionalID},
		{"COORDINATOR", strconv.Itoa(int(d.Coordinator))},
		{"STATE", d.State},
		{"PRODUCER-ID", strconv.FormatInt(d.ProducerID, 10)},
		{"PRODUCER-EPOCH", strconv.Itoa(int(d.ProducerEpoch))},
		{"TIMEOUT", (time.Duration(d.TimeoutMs) * time.Millisecond).String()},
		{"STARTED", started},
		{"RUNNING-FOR", running},
	}
	if err := client.Table(w, summary[0], summary[1:]); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(d.Partitions))
	for _, p := range d.Partitions {
		rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition))})
	}
	return client.Table(w, []string{"TOPIC", "PARTITION"}, rows)
}
