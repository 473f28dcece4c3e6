// Package cluster holds the eddy cluster command: read-only views of the
// cluster as a whole. Each verb is one file.
package cluster

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy cluster command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster",
		Long: `Inspect the cluster the brokers given by -b/--brokers belong to.

Examples:
  # Cluster id, controller and brokers of a local broker
  eddy cluster info

  # The same, as JSON, asking any of several seed brokers
  eddy cluster info -b kafka-1:9092,kafka-2:9092 --format json

  # Is the cluster healthy? (exit status 1 if not)
  eddy cluster health`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(infoCommand(&opts), healthCommand(&opts))
	return cmd
}
