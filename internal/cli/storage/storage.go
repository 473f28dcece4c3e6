// Package storage holds `eddy storage`, offline tools that work on a
// stopped node's data directory (unlike the other nouns, which are Kafka
// clients of a running cluster).
package storage

import "github.com/spf13/cobra"

// Command returns the eddy storage command.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Work on a stopped node's data directory",
	}
	cmd.AddCommand(reencryptCommand())
	return cmd
}
