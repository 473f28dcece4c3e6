package topic

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// result is one row of the output of verbs that only succeed or fail per
// topic (delete, alter-config).
type result struct {
	Topic  string `json:"topic"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func deleteCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete topics",
		Long: `Delete topics and all their records. There is no confirmation prompt.

Examples:
  eddy topic delete orders
  eddy topic delete orders payments --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, opts, args)
		},
	}
}

func runDelete(cmd *cobra.Command, opts *client.Options, names []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	resps, err := adm.DeleteTopics(cmd.Context(), names...)
	if err != nil {
		return fmt.Errorf("deleting topics: %w", err)
	}
	results := make([]result, 0, len(names))
	var errs []error
	for _, name := range names {
		r, ok := resps[name]
		err := client.BrokerError(r.Err, r.ErrMessage)
		if !ok {
			err = errors.New("missing from the broker's response")
		}
		results = append(results, newResult(name, "deleted", "deleting", err, &errs))
	}
	return printResults(cmd, opts, results, errs)
}

// newResult builds the row for topic and, if err is set, appends err wrapped
// with verb and the topic name to errs.
func newResult(topic, status, verb string, err error, errs *[]error) result {
	if err == nil {
		return result{Topic: topic, Status: status}
	}
	err = fmt.Errorf("%s topic %q: %w", verb, topic, err)
	*errs = append(*errs, err)
	return result{Topic: topic, Status: "failed", Error: err.Error()}
}

// printResults prints the rows that succeeded as a table (all rows in JSON)
// and returns the failures joined; failures are not repeated in the table
// because the returned error is printed anyway.
func printResults(cmd *cobra.Command, opts *client.Options, results []result, errs []error) error {
	var rows [][]string
	for _, r := range results {
		if r.Error == "" {
			rows = append(rows, []string{r.Topic, r.Status})
		}
	}
	if opts.JSONOutput() || len(rows) > 0 {
		if err := opts.Render(cmd.OutOrStdout(), results, []string{"TOPIC", "STATUS"}, rows); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}
