// Package bench holds the eddy bench command.
package bench

import "github.com/spf13/cobra"

// Command returns the eddy bench command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "not built yet"}
}
