package topic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// described is everything describe prints for one topic.
type described struct {
	Topic          string               `json:"topic"`
	ID             string               `json:"id,omitempty"`
	Internal       bool                 `json:"internal"`
	PartitionCount int                  `json:"partition_count"`
	Replicas       int                  `json:"replicas"`
	Configs        []describedConfig    `json:"configs"`
	Partitions     []describedPartition `json:"partitions"`
}

type describedConfig struct {
	Key       string  `json:"key"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

type describedPartition struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Offline     []int32 `json:"offline_replicas,omitempty"`
	// UnderReplicated: fewer replicas in sync than assigned; NoLeader:
	// no leader, so the partition serves nothing (kafka-topics.sh's
	// --under-replicated-partitions and --unavailable-partitions).
	UnderReplicated bool   `json:"under_replicated"`
	NoLeader        bool   `json:"offline"`
	LogStartOffset  int64  `json:"log_start_offset"` // -1 if it could not be listed
	HighWatermark   int64  `json:"high_watermark"`   // -1 if it could not be listed
	Error           string `json:"error,omitempty"`
}

func describeCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME...",
		Short: "Describe topics: summary, configs and partitions",
		Long: `Describe topics: a summary, every config with where its value comes
from (DYNAMIC_TOPIC_CONFIG for overrides set on the topic, DEFAULT_CONFIG or
a broker source otherwise), and per partition the leader, replicas, in-sync
replicas, offline replicas (on brokers that are down or fenced), flags,
log start offset and high watermark. FLAGS marks a partition "offline"
when it has no leader (it serves nothing) and "under-replicated" when
fewer replicas are in sync than assigned.

Examples:
  eddy topic describe orders
  eddy topic describe orders payments --format json

  # Only the overrides set on the topic
  eddy topic describe orders --format json | jq '.[].configs[] | select(.source == "DYNAMIC_TOPIC_CONFIG")'`,
		Aliases: []string{"info"},
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, opts, args)
		},
	}
}

func runDescribe(cmd *cobra.Command, opts *client.Options, names []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	out, errs := describeTopics(cmd.Context(), adm, names)
	if len(out) > 0 || opts.JSONOutput() {
		if err := client.PrintEach(cmd.OutOrStdout(), opts, out, printOneDescribed); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// describeTopics gathers metadata, configs and offsets for names. Topics
// that fail to load are reported in errs and left out of the result.
func describeTopics(ctx context.Context, adm *kadm.Client, names []string) ([]described, []error) {
	topics, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, []error{fmt.Errorf("describing topics: %w", err)}
	}
	var (
		errs  []error
		found []string
	)
	for _, name := range names {
		t, ok := topics[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("describing topic %q: missing from the broker's response", name))
		case t.Err != nil:
			errs = append(errs, fmt.Errorf("describing topic %q: %w", name, t.Err))
		default:
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil, errs
	}
	configs, err := adm.DescribeTopicConfigs(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("describing configs: %w", err))
	}
	starts, err := adm.ListStartOffsets(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing log start offsets: %w", err))
	}
	ends, err := adm.ListEndOffsets(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing high watermarks: %w", err))
	}
	out := make([]described, 0, len(found))
	for _, name := range found {
		d, err := buildDescribed(topics[name], configs, starts, ends)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, d)
	}
	return out, errs
}

func buildDescribed(t kadm.TopicDetail, configs kadm.ResourceConfigs, starts, ends kadm.ListedOffsets) (described, error) {
	d := described{
		Topic:          t.Topic,
		ID:             topicID(t.ID),
		Internal:       t.IsInternal,
		PartitionCount: len(t.Partitions),
		Replicas:       replicationFactor(t),
		Configs:        []describedConfig{},
	}
	for _, p := range t.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, buildPartition(p, starts, ends))
	}
	rc, err := configs.On(t.Topic, nil)
	if err == nil {
		err = client.BrokerError(rc.Err, rc.ErrMessage)
	}
	if err != nil {
		return d, fmt.Errorf("describing configs of topic %q: %w", t.Topic, err)
	}
	for _, c := range rc.Configs {
		d.Configs = append(d.Configs, describedConfig{Key: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	slices.SortFunc(d.Configs, func(a, b describedConfig) int { return strings.Compare(a.Key, b.Key) })
	return d, nil
}

func buildPartition(p kadm.PartitionDetail, starts, ends kadm.ListedOffsets) describedPartition {
	dp := describedPartition{
		Partition:       p.Partition,
		Leader:          p.Leader,
		LeaderEpoch:     p.LeaderEpoch,
		Replicas:        p.Replicas,
		ISR:             p.ISR,
		Offline:         p.OfflineReplicas,
		UnderReplicated: len(p.ISR) < len(p.Replicas),
		NoLeader:        p.Leader < 0,
		LogStartOffset:  -1,
		HighWatermark:   -1,
	}
	var errs []string
	if p.Err != nil {
		errs = append(errs, p.Err.Error())
	}
	if o, ok := starts.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
		dp.LogStartOffset = o.Offset
	} else if ok {
		errs = append(errs, "log start offset: "+o.Err.Error())
	}
	if o, ok := ends.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
		dp.HighWatermark = o.Offset
	} else if ok {
		errs = append(errs, "high watermark: "+o.Err.Error())
	}
	dp.Error = strings.Join(errs, "; ")
	return dp
}

func printOneDescribed(w io.Writer, d described) error {
	client.Section(w, "SUMMARY")
	summary := [][]string{
		{"NAME", d.Topic},
		{"ID", client.OrDash(d.ID)},
		{"INTERNAL", strconv.FormatBool(d.Internal)},
		{"PARTITIONS", strconv.Itoa(d.PartitionCount)},
		{"REPLICAS", strconv.Itoa(d.Replicas)},
	}
	if err := client.Table(w, summary[0], summary[1:]); err != nil {
		return err
	}
	fmt.Fprintln(w)
	client.Section(w, "CONFIGS")
	rows := make([][]string, 0, len(d.Configs))
	for _, c := range d.Configs {
		rows = append(rows, []string{c.Key, configValue(c), c.Source})
	}
	if err := client.Table(w, []string{"KEY", "VALUE", "SOURCE"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	client.Section(w, "PARTITIONS")
	rows = rows[:0]
	for _, p := range d.Partitions {
		rows = append(rows, []string{
			strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), strconv.Itoa(int(p.LeaderEpoch)),
			ids(p.Replicas), ids(p.ISR), offlineText(p.Offline), partitionFlags(p), offset(p.LogStartOffset), offset(p.HighWatermark), client.OrDash(p.Error),
		})
	}
	return client.Table(w, []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "FLAGS", "LOG-START-OFFSET", "HIGH-WATERMARK", "ERROR"}, rows)
}

// partitionFlags marks a partition that is offline (no leader) or under-
// replicated, "-" when it is neither.
func partitionFlags(p describedPartition) string {
	var flags []string
	if p.NoLeader {
		flags = append(flags, "offline")
	}
	if p.UnderReplicated {
		flags = append(flags, "under-replicated")
	}
	if len(flags) == 0 {
		return "-"
	}
	return strings.Join(flags, ",")
}

// offlineText lists offline replicas, "-" when there are none.
func offlineText(offline []int32) string {
	if len(offline) == 0 {
		return "-"
	}
	return ids(offline)
}

func configValue(c describedConfig) string {
	switch {
	case c.Sensitive:
		return "(sensitive)"
	case c.Value == nil:
		return "(null)"
	}
	return *c.Value
}

func ids(is []int32) string {
	s := make([]string, len(is))
	for i, id := range is {
		s[i] = strconv.Itoa(int(id))
	}
	return "[" + strings.Join(s, ",") + "]"
}

func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}
