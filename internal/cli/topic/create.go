package topic

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

type createFlags struct {
	partitions int32
	replicas   int16
	configs    []string
	dryRun     bool
}

// created is one row of create's output.
type created struct {
	Topic      string `json:"topic"`
	ID         string `json:"id,omitempty"`
	Partitions int32  `json:"partitions,omitempty"` // unset on error
	Replicas   int16  `json:"replicas,omitempty"`
	DryRun     bool   `json:"dry_run"`
	Error      string `json:"error,omitempty"`
}

func createCommand(opts *client.Options) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: `Create one or more topics.

Partitions and replicas default to -1, which asks the broker to use its own
defaults (num.partitions, default.replication.factor). --dry-run asks the
broker to validate the request without creating anything.

Examples:
  # Create a topic with the broker's default partitions and replicas
  eddy topic create orders

  # 6 partitions, 3 replicas, with topic configs
  eddy topic create payments -p 6 -r 3 -c retention.ms=3600000 -c cleanup.policy=compact,delete

  # Check that the request would succeed, without creating the topic
  eddy topic create payments -p 6 --dry-run`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd, opts, &f, args)
		},
	}
	cmd.Flags().Int32VarP(&f.partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	cmd.Flags().Int16VarP(&f.replicas, "replicas", "r", -1, "replication factor (-1: broker default)")
	cmd.Flags().StringArrayVarP(&f.configs, "config", "c", nil, "topic config key=value (repeatable)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "validate the request without creating the topics")
	return cmd
}

func runCreate(cmd *cobra.Command, opts *client.Options, f *createFlags, names []string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	kvs, err := client.ParseKVs("config", f.configs)
	if err != nil {
		return err
	}
	configs := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		configs[kv.Key] = kadm.StringPtr(kv.Value)
	}
	adm, err := opts.NewAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()

	create := adm.CreateTopics
	if f.dryRun {
		create = adm.ValidateCreateTopics
	}
	resps, err := create(cmd.Context(), f.partitions, f.replicas, configs, names...)
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	return printCreated(cmd, opts, resps, names, f.dryRun)
}

func printCreated(cmd *cobra.Command, opts *client.Options, resps kadm.CreateTopicResponses, names []string, dry bool) error {
	var (
		out  []created
		rows [][]string
		errs []error
	)
	status := "created"
	if dry {
		status = "valid (dry run)"
	}
	for _, name := range names {
		r, ok := resps[name]
		if !ok {
			errs = append(errs, fmt.Errorf("creating topic %q: missing from the broker's response", name))
			continue
		}
		c := created{Topic: name, DryRun: dry}
		if r.Err != nil {
			err := fmt.Errorf("creating topic %q: %w", name, client.BrokerError(r.Err, r.ErrMessage))
			errs = append(errs, err)
			c.Error = err.Error()
		} else {
			c.ID, c.Partitions, c.Replicas = topicID(r.ID), r.NumPartitions, r.ReplicationFactor
			rows = append(rows, []string{name, strconv.Itoa(int(r.NumPartitions)), strconv.Itoa(int(r.ReplicationFactor)), status})
		}
		out = append(out, c)
	}
	if opts.JSONOutput() || len(rows) > 0 {
		if err := opts.Render(cmd.OutOrStdout(), out, []string{"TOPIC", "PARTITIONS", "REPLICAS", "STATUS"}, rows); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}
