package user

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// listed is one user in list's JSON output.
type listed struct {
	User        string       `json:"user"`
	Credentials []credential `json:"credentials"`
}

func listCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:     "list [NAME...]",
		Aliases: []string{"ls"},
		Short:   "List users and their SCRAM mechanisms",
		Long: `List users with one row per SCRAM credential: its mechanism and iterations.
Passwords cannot be listed: the broker keeps only salted hashes. With names,
only those users are listed, and an unknown name is an error.

Examples:
  eddy user list
  eddy user list alice bob
  eddy user list --format json | jq -r '.[].user'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd, opts, args)
		},
	}
}

func runList(cmd *cobra.Command, opts *client.Options, names []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	described, err := adm.DescribeUserSCRAMs(cmd.Context(), names...)
	if err != nil {
		return fmt.Errorf("listing users: %w", err)
	}
	var (
		out  = make([]listed, 0, len(described))
		rows [][]string
		errs []error
	)
	for _, d := range described.Sorted() {
		if d.Err != nil {
			err := client.BrokerError(d.Err, d.ErrMessage)
			if errors.Is(d.Err, kerr.ResourceNotFound) {
				err = errors.New("no such user")
			}
			errs = append(errs, fmt.Errorf("user %q: %w", d.User, err))
			continue
		}
		l := listed{User: d.User, Credentials: []credential{}}
		for _, c := range d.CredInfos {
			l.Credentials = append(l.Credentials, credential{Mechanism: c.Mechanism.String(), Iterations: c.Iterations})
			rows = append(rows, []string{d.User, c.Mechanism.String(), strconv.Itoa(int(c.Iterations))})
		}
		out = append(out, l)
	}
	if err := opts.Render(cmd.OutOrStdout(), out, []string{"USER", "MECHANISM", "ITERATIONS"}, rows); err != nil {
		return err
	}
	return errors.Join(errs...)
}
