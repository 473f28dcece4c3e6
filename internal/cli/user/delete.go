package user

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

func deleteCommand(opts *client.Options) *cobra.Command {
	var mechanism string
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a user, or one of its credentials",
		Long: `Delete a user: all its SCRAM credentials, or with --mechanism only that one.

Connections the user already has open stay open until they re-authenticate
(connections.max.reauth.ms) or close; ACLs naming the user are not removed
(eddy acl delete --principal NAME removes them).

Examples:
  eddy user delete alice
  eddy user delete alice --mechanism SCRAM-SHA-512`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, opts, args[0], mechanism)
		},
	}
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential (default: all of the user's)")
	return cmd
}

func runDelete(cmd *cobra.Command, opts *client.Options, name, mechanism string) error {
	var mechs []kadm.ScramMechanism
	if mechanism != "" {
		m, err := parseMechanism(mechanism)
		if err != nil {
			return err
		}
		mechs = []kadm.ScramMechanism{m}
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	if mechs == nil {
		if mechs, err = mechanismsOf(cmd, adm, name); err != nil {
			return err
		}
	}
	// One request per mechanism: a KRaft controller (Kafka's
	// ScramControlManager, and Eddy's) refuses a user named twice in one
	// request with DUPLICATE_RESOURCE, even for two mechanisms; and kadm
	// keys results by user, so separate requests also tell which
	// mechanism's deletion failed.
	var (
		out  = make([]result, 0, len(mechs))
		errs []error
	)
	for _, m := range mechs {
		r := result{User: name, Mechanism: m.String(), Status: "deleted"}
		if err := deleteCredential(cmd, adm, name, m); err != nil {
			r.Status, r.Error = "", err.Error()
			errs = append(errs, err)
		}
		out = append(out, r)
	}
	return printResults(cmd, opts, out, errs)
}

// deleteCredential deletes name's credential for mechanism m.
func deleteCredential(cmd *cobra.Command, adm *kadm.Client, name string, m kadm.ScramMechanism) error {
	altered, err := adm.AlterUserSCRAMs(cmd.Context(), []kadm.DeleteSCRAM{{User: name, Mechanism: m}}, nil)
	if err != nil {
		return fmt.Errorf("deleting user %q (%s): %w", name, m, err)
	}
	a, ok := altered[name]
	switch {
	case !ok:
		return fmt.Errorf("deleting user %q (%s): missing from the broker's response", name, m)
	case a.Err != nil:
		return fmt.Errorf("deleting user %q (%s): %w", name, m, client.BrokerError(a.Err, a.ErrMessage))
	}
	return nil
}

// mechanismsOf returns the mechanisms name has credentials for; a user
// without any is an error, as deleting nothing would hide a typo.
func mechanismsOf(cmd *cobra.Command, adm *kadm.Client, name string) ([]kadm.ScramMechanism, error) {
	described, err := adm.DescribeUserSCRAMs(cmd.Context(), name)
	if err != nil {
		return nil, fmt.Errorf("describing user %q: %w", name, err)
	}
	d, ok := described[name]
	if ok && d.Err != nil && !errors.Is(d.Err, kerr.ResourceNotFound) {
		return nil, fmt.Errorf("describing user %q: %w", name, client.BrokerError(d.Err, d.ErrMessage))
	}
	if !ok || d.Err != nil || len(d.CredInfos) == 0 {
		return nil, fmt.Errorf("no user %q", name)
	}
	mechs := make([]kadm.ScramMechanism, 0, len(d.CredInfos))
	for _, c := range d.CredInfos {
		mechs = append(mechs, c.Mechanism)
	}
	return mechs, nil
}
