package bench

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// registerFormat adds --format to a command that talks to no broker.
func registerFormat(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text", "output format: text or json")
}

func checkFormat(format string) error {
	return (&client.Options{Format: format}).Validate()
}
