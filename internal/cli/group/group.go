// Package group holds the eddy group command: list, describe, delete and
// seek consumer groups through the Kafka admin APIs. Each verb is one file;
// all of them share the broker and output flags registered here. Commands
// are plain request/response clients: they start no goroutines of their own.
package group

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy group command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"g"},
		Short:   "List, describe, delete and seek consumer groups",
		Long: `List, describe, delete and seek consumer groups.

Every verb talks to the brokers given by -b/--brokers and prints a table, or
JSON for scripts with --format json.

Examples:
  # Which groups exist, and which of them have no running consumers
  eddy group list
  eddy group list --state Empty

  # Members, assignments, committed offsets and lag of a group
  eddy group describe billing

  # Replay a stopped group from the start of its topics, previewing first
  eddy group seek billing --to start --dry-run
  eddy group seek billing --to start

  # Remove groups nobody uses any more, on a remote cluster
  eddy group delete old-billing staging-billing -b kafka-1:9092,kafka-2:9092`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(
		listCommand(&opts),
		describeCommand(&opts),
		seekCommand(&opts),
		deleteCommand(&opts),
	)
	return cmd
}
