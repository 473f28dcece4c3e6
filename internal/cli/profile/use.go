package profile

import (
	"fmt"

	"github.com/spf13/cobra"
)

func useCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "use NAME",
		Short: "Make a profile current",
		Long: `Make a profile current: later commands take their connection settings from it.

Examples:
  eddy profile use prod
  eddy topic list          # connects as the prod profile says`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, path, err := load()
			if err != nil {
				return err
			}
			if err := mustExist(p, args[0]); err != nil {
				return err
			}
			p.Current = args[0]
			if err := p.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Using profile %q.\n", args[0])
			return nil
		},
	}
}
