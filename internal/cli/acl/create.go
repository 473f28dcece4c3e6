package acl

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

func createCommand(opts *client.Options) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs",
		Long: `Create ACLs: one for every combination of the principals, hosts, resources
and operations given. At least one principal, one resource and one operation
are needed; hosts default to * (any host). Resource names are literal unless
--resource-pattern-type prefixed makes them prefixes; the literal name *
matches every resource of its type. Creating an ACL that exists is not an
error. Needs ALTER on the cluster when ACLs are on.

Examples:
  # bob may consume topic clicks with group reporting
  eddy acl create --allow-principal bob --operation read,describe --topic clicks
  eddy acl create --allow-principal bob --operation read --group reporting

  # a transactional producer: WRITE on its transactional ID and the topic
  eddy acl create --allow-principal app --operation write,describe --transactional-id app- \
      --resource-pattern-type prefixed
  eddy acl create --allow-principal app --operation write --topic payments

  # only from one host; deny carol from everywhere
  eddy acl create --allow-principal alice --allow-host 10.0.0.7 --operation all --topic '*'
  eddy acl create --deny-principal carol --operation all --topic '*'

  # who may create topics and manage users and ACLs
  eddy acl create --allow-principal admin --operation create,alter,describe --cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCreate(cmd, opts, &f)
		},
	}
	f.register(cmd, false, "literal")
	return cmd
}

func runCreate(cmd *cobra.Command, opts *client.Options, f *flags) error {
	b, err := f.creation()
	if err != nil {
		return err
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	results, err := adm.CreateACLs(cmd.Context(), b)
	if err != nil {
		return fmt.Errorf("creating ACLs: %w", err)
	}
	var (
		out  []entry
		errs []error
	)
	for _, r := range results {
		e := newEntry(r.Principal, r.Host, r.Type, r.Name, r.Pattern, r.Operation, r.Permission)
		if r.Err != nil {
			err := fmt.Errorf("creating ACL %s %s %s on %s %q: %w", e.Permission, e.Principal, e.Operation, e.ResourceType, e.ResourceName, client.BrokerError(r.Err, r.ErrMessage))
			e.Error = err.Error()
			errs = append(errs, err)
		}
		out = append(out, e)
	}
	if err := render(cmd, opts, sortedUnique(out)); err != nil {
		return err
	}
	return errors.Join(errs...)
}
