// Package topic holds the eddy topic command.
package topic

import "github.com/spf13/cobra"

// Command returns the eddy topic command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "topic", Short: "not built yet"}
}
