// Package serve holds the eddy serve command.
package serve

import "github.com/spf13/cobra"

// Command returns the eddy serve command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "not built yet"}
}
