package acl

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

type deleteFlags struct {
	flags
	yes    bool
	dryRun bool
}

func deleteCommand(opts *client.Options) *cobra.Command {
	var f deleteFlags
	cmd := &cobra.Command{
		Use:     "delete",
		Aliases: []string{"rm"},
		Short:   "Delete the ACLs matching a filter, printing them",
		Long: `Delete every ACL that matches a filter, and print the ACLs deleted.

The filter is the one eddy acl list takes, except that
--resource-pattern-type is literal by default, so that deleting the ACLs of
topic orders leaves a prefixed ACL on "ord" alone; give prefixed, match or
any to widen it. A filter naming neither a resource nor a principal would
delete everyone's ACLs on everything: it is refused unless --yes is given.
--dry-run prints what would be deleted without deleting it. Needs ALTER on
the cluster when ACLs are on.

Examples:
  # what would go, then delete it
  eddy acl delete --principal alice --dry-run
  eddy acl delete --principal alice

  eddy acl delete --allow-principal bob --operation read --topic clicks
  eddy acl delete --topic orders --resource-pattern-type any

  # every ACL in the cluster
  eddy acl delete --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDelete(cmd, opts, &f)
		},
	}
	f.register(cmd, true, "literal")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "allow a filter that names no resource and no principal (deletes every matching ACL)")
	cmd.Flags().BoolVar(&f.yes, "force", false, "the same as --yes")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the ACLs the filter matches without deleting them")
	return cmd
}

func runDelete(cmd *cobra.Command, opts *client.Options, f *deleteFlags) error {
	b, err := f.filter()
	if err != nil {
		return err
	}
	if f.dryRun {
		return runList(cmd, opts, &f.flags)
	}
	if f.wildcard() && !f.yes {
		return errors.New("refusing to delete with a filter that names no resource and no principal: it would delete the ACLs of everyone on everything; give --yes if that is what you want (--dry-run shows them)")
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	results, err := adm.DeleteACLs(cmd.Context(), b)
	if err != nil {
		return fmt.Errorf("deleting ACLs: %w", err)
	}
	var (
		out  []entry
		errs []error
	)
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("deleting ACLs: %w", client.BrokerError(r.Err, r.ErrMessage)))
			continue
		}
		for _, d := range r.Deleted {
			e := newEntry(d.Principal, d.Host, d.Type, d.Name, d.Pattern, d.Operation, d.Permission)
			if d.Err != nil {
				err := fmt.Errorf("deleting ACL %s %s %s on %s %q: %w", e.Permission, e.Principal, e.Operation, e.ResourceType, e.ResourceName, client.BrokerError(d.Err, d.ErrMessage))
				e.Error = err.Error()
				errs = append(errs, err)
			}
			out = append(out, e)
		}
	}
	if err := render(cmd, opts, sortedUnique(out)); err != nil {
		return err
	}
	return errors.Join(errs...)
}
