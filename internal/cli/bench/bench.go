// Package bench holds the eddy bench command: load generators that print one
// line (or one JSON object) of figures per run, and the references those
// figures are read against (the disk and loopback limits of the machine, and
// franz-go's in-memory fake broker kfake started in-process). The method is
// in BENCHMARKS.md: a figure is only published beside a reference measured
// in the same run.
//
// Every subcommand runs in the calling goroutine; the goroutines a workload
// starts (producers, the loopback reader) are waited for before it returns.
package bench

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Command returns the eddy bench command.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce/consume speed and the machine's limits",
		Long: `Measure produce/consume speed and the machine's limits.

Every subcommand prints one line of figures, or one JSON object with
--format json. MB is 10^6 bytes; latencies are in milliseconds.

A figure means little alone on a shared machine: read it against a
reference measured in the same run. "eddy bench compare" runs the same
produce and consume workload against a broker and against franz-go's
in-memory fake broker (kfake) started in-process, and prints the ratio;
"eddy bench disk" and "eddy bench net" measure the disk and loopback limits.

Examples:
  # W1: 1 KiB records, acks=all, 6 partitions, 30 s
  eddy bench produce --against 127.0.0.1:9092 --create

  # W2: read back everything in the topic
  eddy bench consume --against 127.0.0.1:9092

  # W1 and W2 against the broker and against kfake, with ratios
  eddy bench compare --against 127.0.0.1:9092 --create

  # transactions against idempotent produce, and read_committed latency
  eddy bench txn --against 127.0.0.1:9092 --create

  # the machine's limits
  eddy bench disk --dir /var/lib/eddy --size 1GiB
  eddy bench net --size 1GiB`,
	}
	cmd.AddCommand(
		produceCommand(),
		consumeCommand(),
		compareCommand(),
		diskCommand(),
		netCommand(),
		idleCommand(),
		txnCommand(),
	)
	return cmd
}

// signalContext is the context of one run: Ctrl-C or SIGTERM ends the
// workload early, and what was measured so far is still printed.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
