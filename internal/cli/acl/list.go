package acl

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

func listCommand(opts *client.Options) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "describe"},
		Short:   "List ACLs matching a filter",
		Long: `List the ACLs that match a filter; with no flags, every ACL.

A flag not given matches anything. --principal matches allow and deny ACLs,
--allow-principal only allow ACLs and --deny-principal only deny ACLs.
--resource-pattern-type is any by default (ACLs of every pattern type on the
names given); match lists the ACLs that apply to a name: literal ones, the
prefixed ones covering it, and *. Needs DESCRIBE on the cluster when ACLs
are on.

Examples:
  eddy acl list
  eddy acl list --principal alice
  eddy acl list --topic orders --resource-pattern-type match
  eddy acl list --operation write --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, opts, &f)
		},
	}
	f.register(cmd, true, "any")
	return cmd
}

func runList(cmd *cobra.Command, opts *client.Options, f *flags) error {
	b, err := f.filter()
	if err != nil {
		return err
	}
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	results, err := adm.DescribeACLs(cmd.Context(), b)
	if err != nil {
		return fmt.Errorf("listing ACLs: %w", err)
	}
	var (
		out  []entry
		errs []error
	)
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("listing ACLs: %w", client.BrokerError(r.Err, r.ErrMessage)))
			continue
		}
		for _, d := range r.Described {
			out = append(out, newEntry(d.Principal, d.Host, d.Type, d.Name, d.Pattern, d.Operation, d.Permission))
		}
	}
	if err := render(cmd, opts, sortedUnique(out)); err != nil {
		return err
	}
	return errors.Join(errs...)
}
