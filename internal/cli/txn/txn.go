// Package txn holds the eddy txn command: list and describe transactions on
// their coordinators, describe the producers a partition's leader
// remembers, and find hanging transactions, as Kafka's
// kafka-transactions.sh does. Each verb is one file; all share the broker
// and output flags registered here. Commands are plain request/response
// clients: they start no goroutines of their own.
package txn

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy txn command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:     "txn",
		Aliases: []string{"transactions"},
		Short:   "List and describe transactions and producers; find hanging transactions",
		Long: `List and describe transactions and the producers partitions remember, and
find hanging transactions: the tools of Kafka's kafka-transactions.sh.

Every verb talks to the brokers given by -b/--brokers and prints a table, or
JSON for scripts with --format json.

Examples:
  # Transactions open for more than a minute
  eddy txn list --state Ongoing --duration 1m

  # One transactional id: state, producer, timeout and its partitions
  eddy txn describe billing-writer-0

  # The producers of every partition of a topic, with their open transactions
  eddy txn producers orders

  # Open transactions no coordinator will ever finish (they hold
  # read_committed consumers back)
  eddy txn hanging --topic orders`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(
		listCommand(&opts),
		describeCommand(&opts),
		producersCommand(&opts),
		hangingCommand(&opts),
	)
	return cmd
}
