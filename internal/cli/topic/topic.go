// Package topic holds the eddy topic command: create, list, describe,
// alter-config and delete topics through the Kafka admin APIs. Each verb is
// one file; all of them share the broker and output flags registered here.
package topic

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy topic command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Long: `Create, list, describe, alter and delete topics.

Every verb talks to the brokers given by -b/--brokers and prints a table, or
JSON for scripts with --format json.

Examples:
  # Create a topic with 3 partitions, compacted, on the broker at localhost
  eddy topic create orders -p 3 -c cleanup.policy=compact

  # List topics, then describe one (configs and per-partition offsets)
  eddy topic list
  eddy topic describe orders

  # Change retention, then remove the override again
  eddy topic alter-config orders --set retention.ms=86400000
  eddy topic alter-config orders --delete retention.ms

  # Delete topics on a remote cluster, printing JSON
  eddy topic delete orders payments -b kafka-1:9092,kafka-2:9092 --format json`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(
		createCommand(&opts),
		listCommand(&opts),
		describeCommand(&opts),
		alterConfigCommand(&opts),
		deleteCommand(&opts),
	)
	return cmd
}
