package txn

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// listed is one row of list's output.
type listed struct {
	TransactionalID string `json:"transactional_id"`
	Coordinator     int32  `json:"coordinator"`
	ProducerID      int64  `json:"producer_id"`
	State           string `json:"state"`
}

// txnStates are the states a transactional id can be in, as Kafka spells them.
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
	"CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func listCommand(opts *client.Options) *cobra.Command {
	var states []string
	var pids []int64
	var duration time.Duration
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids",
		Long: `List the transactional ids every coordinator knows, with their coordinator,
producer ID and state.

--state keeps only ids in the given states (case-insensitive; repeat the flag
or separate with commas): Empty, Ongoing, PrepareCommit, PrepareAbort,
CompleteCommit, CompleteAbort, Dead or PrepareEpochFence.
--producer-id keeps only ids whose current producer ID is one of those given.
--duration keeps only ids whose current transaction started longer ago than
that (like kafka-transactions.sh list --duration-filter); ids with no
transaction started always qualify, as in Kafka.

Examples:
  eddy txn list
  eddy txn list --state ongoing --duration 5m
  eddy txn list --producer-id 4000,4001 --format json | jq -r '.[].transactional_id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, opts, states, pids, duration)
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only list transactional ids in these states")
	cmd.Flags().Int64SliceVar(&pids, "producer-id", nil, "only list transactional ids with these producer IDs")
	cmd.Flags().DurationVar(&duration, "duration", -1, "only list transactions running longer than this (e.g. 30s, 15m)")
	return cmd
}

func runList(cmd *cobra.Command, opts *client.Options, states []string, pids []int64, duration time.Duration) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	filter, err := parseStates(states)
	if err != nil {
		return err
	}
	cl, err := opts.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()

	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis = filter, pids, -1
	if duration >= 0 {
		req.DurationFilterMillis = duration.Milliseconds()
	}
	var out []listed
	var errs []error
	// Every broker coordinates some ids: the request goes to each.
	for _, shard := range cl.RequestSharded(cmd.Context(), req) {
		if shard.Err == nil {
			shard.Err = kerr.ErrorForCode(shard.Resp.(*kmsg.ListTransactionsResponse).ErrorCode)
		}
		if shard.Err != nil {
			errs = append(errs, fmt.Errorf("listing transactions on broker %d: %w", shard.Meta.NodeID, shard.Err))
			continue
		}
		for _, s := range shard.Resp.(*kmsg.ListTransactionsResponse).TransactionStates {
			out = append(out, listed{TransactionalID: s.TransactionalID, Coordinator: shard.Meta.NodeID,
				ProducerID: s.ProducerID, State: s.TransactionState})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	slices.SortFunc(out, func(a, b listed) int { return strings.Compare(a.TransactionalID, b.TransactionalID) })
	rows := make([][]string, 0, len(out))
	for _, l := range out {
		rows = append(rows, []string{l.TransactionalID, strconv.Itoa(int(l.Coordinator)),
			strconv.FormatInt(l.ProducerID, 10), l.State})
	}
	if out == nil {
		out = []listed{}
	}
	return opts.Render(cmd.OutOrStdout(), out, []string{"TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"}, rows)
}

// parseStates maps each --state value to Kafka's spelling; unknown states
// are an error rather than a filter that silently matches nothing.
func parseStates(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		i := slices.IndexFunc(txnStates, func(st string) bool { return strings.EqualFold(st, strings.TrimSpace(s)) })
		if i < 0 {
			return nil, fmt.Errorf("unknown --state %q (want one of %s)", s, strings.Join(txnStates, ", "))
		}
		out = append(out, txnStates[i])
	}
	return out, nil
}
