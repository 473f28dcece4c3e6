package topic

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

type alterFlags struct {
	set    []string
	delete []string
	dryRun bool
}

func alterConfigCommand(opts *client.Options) *cobra.Command {
	var f alterFlags
	cmd := &cobra.Command{
		Use:   "alter-config NAME... [--set k=v]... [--delete k]...",
		Short: "Set or remove topic config overrides",
		Long: `Set or remove topic config overrides with IncrementalAlterConfigs: only the
keys named are touched; every other override on the topic stays as it is.
--delete removes an override so the topic falls back to the broker default.

Examples:
  # Keep records for one day and compact
  eddy topic alter-config orders --set retention.ms=86400000 --set cleanup.policy=compact

  # Values may contain commas and '='
  eddy topic alter-config orders --set cleanup.policy=compact,delete

  # Go back to the broker's default retention on two topics
  eddy topic alter-config orders payments --delete retention.ms

  # Ask the broker to validate the change without applying it
  eddy topic alter-config orders --set retention.ms=-1 --dry-run`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAlterConfig(cmd, opts, &f, args)
		},
	}
	cmd.Flags().StringArrayVar(&f.set, "set", nil, "config key=value to set (repeatable)")
	cmd.Flags().StringArrayVar(&f.delete, "delete", nil, "config key to remove (repeatable)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "validate the change without applying it")
	return cmd
}

func alterations(f *alterFlags) ([]kadm.AlterConfig, error) {
	if len(f.set) == 0 && len(f.delete) == 0 {
		return nil, errors.New("nothing to alter: give --set key=value or --delete key")
	}
	kvs, err := client.ParseKVs("set", f.set)
	if err != nil {
		return nil, err
	}
	var alts []kadm.AlterConfig
	for _, kv := range kvs {
		alts = append(alts, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv.Key, Value: kadm.StringPtr(kv.Value)})
	}
	for _, k := range f.delete {
		if k == "" {
			return nil, errors.New("invalid --delete: empty key")
		}
		alts = append(alts, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return alts, nil
}

func runAlterConfig(cmd *cobra.Command, opts *client.Options, f *alterFlags, names []string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	alts, err := alterations(f)
	if err != nil {
		return err
	}
	adm, err := opts.NewAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()

	alter, status := adm.AlterTopicConfigs, "altered"
	if f.dryRun {
		alter, status = adm.ValidateAlterTopicConfigs, "valid (dry run)"
	}
	resps, err := alter(cmd.Context(), alts, names...)
	if err != nil {
		return fmt.Errorf("altering topic configs: %w", err)
	}
	results := make([]result, 0, len(names))
	var errs []error
	for _, name := range names {
		r, err := resps.On(name, nil)
		if err == nil {
			err = client.BrokerError(r.Err, r.ErrMessage)
		}
		results = append(results, newResult(name, status, "altering configs of", err, &errs))
	}
	return printResults(cmd, opts, results, errs)
}
