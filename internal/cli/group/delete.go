package group

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// deleted is one row of delete's output.
type deleted struct {
	Group  string `json:"group"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func deleteCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete groups and their committed offsets",
		Long: `Delete groups and all their committed offsets. There is no confirmation
prompt.

Only groups without members can be deleted: the broker refuses a group that
still has running consumers with NON_EMPTY_GROUP, so stop them first. Each
group succeeds or fails on its own; failures are returned together after the
successes are printed.

Examples:
  eddy group delete old-billing
  eddy group delete old-billing staging-billing --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, opts, args)
		},
	}
}

func runDelete(cmd *cobra.Command, opts *client.Options, groups []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	groups = unique(groups)
	resps, err := adm.DeleteGroups(cmd.Context(), groups...)
	if err != nil {
		return fmt.Errorf("deleting groups: %w", err)
	}
	out := make([]deleted, 0, len(groups))
	var (
		rows [][]string
		errs []error
	)
	for _, g := range groups {
		r, ok := resps[g]
		err := client.BrokerError(r.Err, r.ErrMessage)
		if !ok {
			err = errors.New("missing from the broker's response")
		}
		if err != nil {
			err = fmt.Errorf("deleting group %q: %w", g, err)
			errs = append(errs, err)
			out = append(out, deleted{Group: g, Status: "failed", Error: err.Error()})
			continue
		}
		out = append(out, deleted{Group: g, Status: "deleted"})
		rows = append(rows, []string{g, "deleted"})
	}
	// Failures are left out of the table because the returned error is
	// printed anyway; JSON always carries every group.
	if opts.JSONOutput() || len(rows) > 0 {
		if err := opts.Render(cmd.OutOrStdout(), out, []string{"GROUP", "STATUS"}, rows); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// unique returns names without repeats, in the order first given, so that a
// name typed twice is neither sent nor reported twice.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
