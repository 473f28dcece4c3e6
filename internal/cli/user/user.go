// Package user holds the eddy user command: SCRAM users created, listed and
// deleted through the Kafka admin APIs DescribeUserScramCredentials (50)
// and AlterUserScramCredentials (51). Passwords never leave this process:
// the client salts and hashes them, and the broker stores only the result.
package user

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy user command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete SASL/SCRAM users",
		Long: `Create, list and delete the users that SASL (SCRAM and PLAIN) checks.

A user has one credential per SCRAM mechanism (SCRAM-SHA-256, SCRAM-SHA-512);
PLAIN logins are checked against the same credentials. The password is
salted and hashed here, so the broker never sees it. Changing users needs
ALTER on the cluster, listing them DESCRIBE, when ACLs are on.

The connection flags (-b, --tls-*, --user, --password, --sasl-mechanism) say
how this command connects; --new-password is the password of the user being
created.

Examples:
  # As the bootstrap admin, create alice with a SCRAM-SHA-256 credential
  export EDDY_PASSWORD=admin-secret
  eddy user create alice --new-password alice-secret --user admin

  # Give her a SCRAM-SHA-512 credential too, with more iterations
  eddy user create alice --new-password alice-secret --mechanism SCRAM-SHA-512 --iterations 8192 --user admin

  eddy user list --user admin
  eddy user delete alice --user admin`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(createCommand(&opts), listCommand(&opts), deleteCommand(&opts))
	return cmd
}

// parseMechanism accepts a SCRAM mechanism name in any case.
func parseMechanism(name string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(name) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("unknown --mechanism %q (want SCRAM-SHA-256 or SCRAM-SHA-512)", name)
}

// credential is one of a user's SCRAM credentials in list's output.
type credential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

// result is one row of create's or delete's output.
type result struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
	Status    string `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
}

// printResults prints rows, or JSON, and returns the errors they carry.
func printResults(cmd *cobra.Command, opts *client.Options, out []result, errs []error) error {
	rows := make([][]string, 0, len(out))
	for _, r := range out {
		if r.Error == "" {
			rows = append(rows, []string{r.User, r.Mechanism, r.Status})
		}
	}
	if opts.JSONOutput() || len(rows) > 0 {
		if err := opts.Render(cmd.OutOrStdout(), out, []string{"USER", "MECHANISM", "STATUS"}, rows); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}
