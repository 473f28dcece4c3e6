package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

var (
	errActive   = errors.New("group: consumers are still running")
	errNoTopics = errors.New("group: nothing committed to seek; name topics with --topic")
)

// seekFlags are seek's own flags.
type seekFlags struct {
	to         string
	topics     []string
	partitions []int32
	dryRun     bool
}

// moved is one row of seek's output: a partition's committed offset before
// and after. OldOffset is -1 if the group had nothing committed there.
type moved struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	OldOffset int64  `json:"old_offset"`
	NewOffset int64  `json:"new_offset"`
	Error     string `json:"error,omitempty"`
}

func seekCommand(opts *client.Options) *cobra.Command {
	var f seekFlags
	cmd := &cobra.Command{
		Use:   "seek GROUP --to start|end|OFFSET|@TIMESTAMP_MS",
		Short: "Reset the committed offsets of a stopped group",
		Long: `Reset the committed offsets of a group whose consumers are stopped, so
that they resume elsewhere when they start again.

--to says where every chosen partition moves:
  start            the log start offset (replay everything still kept)
  end              the log end offset (skip everything produced so far)
  OFFSET           that offset, clamped to the log's start and end
  @TIMESTAMP_MS    the first record at or after that Unix time in
                   milliseconds, or the end if there is none

The group must have no members (state Empty or Dead): a running consumer
would overwrite the new offsets with its next commit, so seek refuses and
asks you to stop it. A group that does not exist yet is created.

By default every partition of every topic the group has committed offsets
for is moved; --topic picks topics instead (they need not have commits yet)
and --partition narrows to those partition numbers in each topic. Nothing is
committed unless every chosen partition could be resolved; --dry-run prints
the moves without committing. New commits carry no metadata.

Examples:
  # Replay a stopped group from the start, previewing first
  eddy group seek billing --to start --dry-run
  eddy group seek billing --to start

  # Skip the backlog of one topic
  eddy group seek billing --to end --topic invoices

  # Re-read partitions 0 and 3 of orders from offset 1200
  eddy group seek billing --to 1200 --topic orders --partition 0,3

  # Go back to what was produced since midnight UTC, 1 March 2025
  eddy group seek billing --to @1740787200000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSeek(cmd, opts, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.to, "to", "", "where to move: start, end, OFFSET or @TIMESTAMP_MS (required)")
	cmd.Flags().StringSliceVarP(&f.topics, "topic", "t", nil, "topics to move (default: those the group has commits for)")
	cmd.Flags().Int32SliceVarP(&f.partitions, "partition", "p", nil, "partitions to move in each topic (default: all)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the moves without committing them")
	_ = cmd.MarkFlagRequired("to") // cannot fail: the flag is defined just above
	return cmd
}

func runSeek(cmd *cobra.Command, opts *client.Options, group string, f seekFlags) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	to, err := parseTarget(f.to)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(f.partitions, func(p int32) bool { return p < 0 }); i >= 0 {
		return fmt.Errorf("invalid --partition %d: partitions are numbered from 0", f.partitions[i])
	}
	adm, err := opts.NewAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()

	moves, err := planSeek(cmd.Context(), adm, group, to, f)
	if err != nil {
		return fmt.Errorf("seeking group %q: %w", group, err)
	}
	var commitErr error
	if !f.dryRun {
		commitErr = commitMoves(cmd.Context(), adm, group, moves)
	}
	if err := printMoves(cmd, opts, moves, f.dryRun); err != nil {
		return err
	}
	if commitErr != nil {
		return fmt.Errorf("seeking group %q: %w", group, commitErr)
	}
	return nil
}

// planSeek checks that group is inactive, then works out each chosen
// partition's old and new offset.
func planSeek(ctx context.Context, adm *kadm.Client, group string, to target, f seekFlags) ([]moved, error) {
	if err := checkInactive(ctx, adm, group); err != nil {
		return nil, err
	}
	committed, err := fetchCommitted(ctx, adm, group)
	if err != nil {
		return nil, err
	}
	topics := f.topics
	if len(topics) == 0 {
		topics = committed.TopicsSet().Topics()
	}
	if len(topics) == 0 {
		return nil, errNoTopics
	}
	topics = unique(topics)
	b, err := listBounds(ctx, adm, to, topics)
	if err != nil {
		return nil, err
	}
	return plan(to, topics, f.partitions, committed, b)
}

// checkInactive refuses groups with members. The broker would also refuse
// the commit of a group that gained a member after this check (it answers
// UNKNOWN_MEMBER_ID to commits from outside the group), so the check only
// has to give the clear error, not close the race.
func checkInactive(ctx context.Context, adm *kadm.Client, group string) error {
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describing: %w", err)
	}
	d, ok := ds[group]
	switch {
	case !ok:
		return errors.New("describing: missing from the broker's response")
	case errors.Is(d.Err, kerr.GroupIDNotFound):
		return nil // committing creates the group, as it would for any consumer
	case d.Err != nil:
		return fmt.Errorf("describing: %w", client.BrokerError(d.Err, d.ErrMessage))
	case len(d.Members) > 0:
		return fmt.Errorf("%w: it is %s with %d member(s); stop them first, or their next commit undoes the seek",
			errActive, d.State, len(d.Members))
	}
	return nil
}

// fetchCommitted returns the group's committed offsets; a group that does
// not exist has none.
func fetchCommitted(ctx context.Context, adm *kadm.Client, group string) (kadm.Offsets, error) {
	resps, err := adm.FetchOffsets(ctx, group)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return kadm.Offsets{}, nil
	case err != nil:
		return nil, fmt.Errorf("fetching committed offsets: %w", err)
	}
	var errs []error
	resps.EachError(func(o kadm.OffsetResponse) {
		errs = append(errs, fmt.Errorf("fetching committed offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return resps.Offsets(), nil
}

// listBounds lists the start and end offsets of topics, and for a timestamp
// target the offsets at that time. The end offsets also say which
// partitions each topic has.
func listBounds(ctx context.Context, adm *kadm.Client, to target, topics []string) (bounds, error) {
	var b bounds
	var err error
	if b.starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
		return b, fmt.Errorf("listing log start offsets: %w", err)
	}
	if b.ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
		return b, fmt.Errorf("listing log end offsets: %w", err)
	}
	if to.kind == toTime {
		if b.atTime, err = adm.ListOffsetsAfterMilli(ctx, to.value, topics...); err != nil {
			return b, fmt.Errorf("listing offsets after %d: %w", to.value, err)
		}
	}
	return b, nil
}

// commitMoves commits every move's new offset in one request, outside any
// generation (kadm sends generation -1, which brokers accept only while the
// group has no members), and records per-partition failures on the moves.
func commitMoves(ctx context.Context, adm *kadm.Client, group string, moves []moved) error {
	offsets := make(kadm.Offsets)
	for _, m := range moves {
		offsets.Add(kadm.Offset{Topic: m.Topic, Partition: m.Partition, At: m.NewOffset, LeaderEpoch: -1})
	}
	resps, reqErr := adm.CommitOffsets(ctx, group, offsets)
	var errs []error
	for i, m := range moves {
		r, ok := resps.Lookup(m.Topic, m.Partition)
		err := r.Err
		switch {
		case reqErr != nil:
			err = reqErr
		case !ok:
			err = errors.New("missing from the broker's response")
		}
		if err != nil {
			err = fmt.Errorf("committing offset of %s/%d: %w", m.Topic, m.Partition, err)
			moves[i].Error = err.Error()
			errs = append(errs, err)
		}
	}
	if reqErr != nil {
		return fmt.Errorf("committing offsets: %w", reqErr) // once, not per partition
	}
	return errors.Join(errs...)
}

func printMoves(cmd *cobra.Command, opts *client.Options, moves []moved, dryRun bool) error {
	status := "committed"
	if dryRun {
		status = "dry run"
	}
	rows := make([][]string, 0, len(moves))
	for _, m := range moves {
		s := status
		if m.Error != "" {
			s = "failed"
		}
		rows = append(rows, []string{m.Topic, strconv.Itoa(int(m.Partition)), offset(m.OldOffset), "→", strconv.FormatInt(m.NewOffset, 10), s})
	}
	return opts.Render(cmd.OutOrStdout(), moves, []string{"TOPIC", "PARTITION", "OLD-OFFSET", "", "NEW-OFFSET", "STATUS"}, rows)
}
