// Package cli builds the eddy command tree. Every subcommand except serve is
// a Kafka client of a running cluster (like Redpanda's rpk); each noun lives
// in its own package with one file per verb.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/acl"
	"github.com/eddy-streaming/eddy/internal/cli/bench"
	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/cli/cluster"
	"github.com/eddy-streaming/eddy/internal/cli/consume"
	"github.com/eddy-streaming/eddy/internal/cli/group"
	"github.com/eddy-streaming/eddy/internal/cli/produce"
	"github.com/eddy-streaming/eddy/internal/cli/profile"
	"github.com/eddy-streaming/eddy/internal/cli/serve"
	"github.com/eddy-streaming/eddy/internal/cli/storage"
	"github.com/eddy-streaming/eddy/internal/cli/topic"
	"github.com/eddy-streaming/eddy/internal/cli/txn"
	"github.com/eddy-streaming/eddy/internal/cli/user"
)

// Execute runs the command line and returns the error of the command that
// ran; main turns it into an exit status.
func Execute(args []string) error {
	root := newRoot()
	root.SetArgs(args)
	return client.Explain(root.Execute())
}

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "eddy",
		Short:         "Eddy: an event streaming platform that speaks the Kafka protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		serve.Command(),
		topic.Command(),
		produce.Command(),
		consume.Command(),
		group.Command(),
		txn.Command(),
		cluster.Command(),
		bench.Command(),
		profile.Command(),
		user.Command(),
		acl.Command(),
		storage.Command(),
	)
	return root
}
