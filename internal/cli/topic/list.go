package topic

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// listed is one row of list's output.
type listed struct {
	Topic      string `json:"topic"`
	ID         string `json:"id,omitempty"`
	Partitions int    `json:"partitions"`
	Replicas   int    `json:"replicas"`
	Internal   bool   `json:"internal"`
}

func listCommand(opts *client.Options) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Long: `List topics with their partition count and replication factor.

Internal topics (such as __consumer_offsets) are hidden unless --internal is
given.

Examples:
  eddy topic list
  eddy topic list --internal
  eddy topic list --format json | jq -r '.[].topic'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, opts, internal)
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func runList(cmd *cobra.Command, opts *client.Options, internal bool) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	list := adm.ListTopics
	if internal {
		list = adm.ListTopicsWithInternal
	}
	topics, err := list(cmd.Context())
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	out := make([]listed, 0, len(topics))
	rows := make([][]string, 0, len(topics))
	for _, t := range topics.Sorted() {
		l := listed{Topic: t.Topic, ID: topicID(t.ID), Partitions: len(t.Partitions), Replicas: replicationFactor(t), Internal: t.IsInternal}
		out = append(out, l)
		rows = append(rows, []string{l.Topic, strconv.Itoa(l.Partitions), strconv.Itoa(l.Replicas)})
	}
	return opts.Render(cmd.OutOrStdout(), out, []string{"NAME", "PARTITIONS", "REPLICAS"}, rows)
}

// replicationFactor is the largest replica count of any partition: during a
// reassignment partitions can briefly differ, and the larger count is the
// one that matters for capacity.
func replicationFactor(t kadm.TopicDetail) int {
	n := 0
	for _, p := range t.Partitions {
		n = max(n, len(p.Replicas))
	}
	return n
}
