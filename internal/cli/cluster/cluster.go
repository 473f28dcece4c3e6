// Package cluster holds the eddy cluster command.
package cluster

import "github.com/spf13/cobra"

// Command returns the eddy cluster command.
func Command() *cobra.Command {
	return &cobra.Command{Use: "cluster", Short: "not built yet"}
}
