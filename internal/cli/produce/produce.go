// Package produce holds the eddy produce command.
package produce

import "github.com/spf13/cobra"

// Command returns the eddy produce command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "produce", Short: "not built yet"}
}
