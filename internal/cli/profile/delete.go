package profile

import (
	"fmt"

	"github.com/spf13/cobra"
)

func deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a profile",
		Long: `Delete a profile. Deleting the current profile leaves none current, so
commands fall back to their flags and defaults.

Examples:
  eddy profile delete staging`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, path, err := load()
			if err != nil {
				return err
			}
			name := args[0]
			if err := mustExist(p, name); err != nil {
				return err
			}
			delete(p.Profiles, name)
			if p.Current == name {
				p.Current = ""
			}
			if err := p.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted profile %q.\n", name)
			return nil
		},
	}
}
