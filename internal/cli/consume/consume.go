// Package consume holds the eddy consume command.
package consume

import "github.com/spf13/cobra"

// Command returns the eddy consume command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "consume", Short: "not built yet"}
}
