package user

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and
// maxIterations).
const (
	minIterations = 4096
	maxIterations = 16384
)

type createFlags struct {
	password   string
	mechanism  string
	iterations int32
}

func createCommand(opts *client.Options) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user, or set the password of an existing one",
		Long: `Create a SCRAM user, or replace the password of one that exists.

One call sets the credential of one mechanism (--mechanism, SCRAM-SHA-256 by
default); give the other mechanism in a second call for clients that use it.
The password is salted and hashed (--iterations rounds, 4096 to 16384) here;
the output says whether the user was created or its password replaced.

Examples:
  eddy user create alice --new-password alice-secret
  eddy user create alice --new-password alice-secret --mechanism SCRAM-SHA-512 --iterations 8192

  # Connecting over SASL_SSL as the admin, printing JSON
  eddy user create bob --new-password bob-secret -b kafka-1:9093 --tls-ca ca.pem \
      --user admin --password admin-secret --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd, opts, &f, args[0])
		},
	}
	cmd.Flags().StringVar(&f.password, "new-password", "", "password of the user (required)")
	cmd.Flags().StringVar(&f.mechanism, "mechanism", "SCRAM-SHA-256", "SCRAM mechanism of the credential: SCRAM-SHA-256 or SCRAM-SHA-512")
	cmd.Flags().Int32Var(&f.iterations, "iterations", minIterations, "SCRAM iterations, 4096 to 16384")
	return cmd
}

func (f *createFlags) check(name string) (kadm.ScramMechanism, error) {
	switch {
	case name == "":
		return 0, errors.New("the user name must not be empty")
	case f.password == "":
		return 0, errors.New("--new-password is required")
	case f.iterations < minIterations || f.iterations > maxIterations:
		return 0, fmt.Errorf("--iterations %d is outside %d to %d", f.iterations, minIterations, maxIterations)
	}
	return parseMechanism(f.mechanism)
}

func runCreate(cmd *cobra.Command, opts *client.Options, f *createFlags, name string) error {
	mech, err := f.check(name)
	if err != nil {
		return err
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	status := "created"
	if hasCredential(cmd, adm, name, mech) {
		status = "password replaced"
	}
	altered, err := adm.AlterUserSCRAMs(cmd.Context(), nil, []kadm.UpsertSCRAM{{
		User: name, Mechanism: mech, Iterations: f.iterations, Password: f.password,
	}})
	if err != nil {
		return fmt.Errorf("creating user %q: %w", name, err)
	}
	r := result{User: name, Mechanism: mech.String(), Status: status}
	var errs []error
	if a, ok := altered[name]; !ok {
		errs = append(errs, fmt.Errorf("creating user %q: missing from the broker's response", name))
	} else if a.Err != nil {
		errs = append(errs, fmt.Errorf("creating user %q: %w", name, client.BrokerError(a.Err, a.ErrMessage)))
	}
	if len(errs) > 0 {
		r.Status, r.Error = "", errs[0].Error()
	}
	return printResults(cmd, opts, []result{r}, errs)
}

// hasCredential reports whether name already has a credential for mech, to
// tell a new user from a password change in the output. It only labels the
// result, so a failed describe counts as no.
func hasCredential(cmd *cobra.Command, adm *kadm.Client, name string, mech kadm.ScramMechanism) bool {
	described, err := adm.DescribeUserSCRAMs(cmd.Context(), name)
	if err != nil {
		return false
	}
	d, ok := described[name]
	if !ok || d.Err != nil {
		return false
	}
	for _, c := range d.CredInfos {
		if c.Mechanism == mech {
			return true
		}
	}
	return false
}
