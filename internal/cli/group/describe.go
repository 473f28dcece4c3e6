package group

import (
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

// described is everything describe prints for one group.
type described struct {
	Group        string         `json:"group"`
	Coordinator  coordinator    `json:"coordinator"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"` // the partition assignor, once the group is Stable
	Members      []member       `json:"members"`
	Offsets      []partitionLag `json:"offsets"`
	TotalLag     int64          `json:"total_lag"` // the sum of every lag that could be calculated
}

type coordinator struct {
	NodeID int32  `json:"node_id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
}

type member struct {
	MemberID   string          `json:"member_id"`
	InstanceID *string         `json:"instance_id"`
	ClientID   string          `json:"client_id"`
	Host       string          `json:"host"`
	Assigned   []assignedTopic `json:"assigned"`
}

type assignedTopic struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// partitionLag is one partition the group is assigned or has committed to.
// Offsets are -1 when unknown: nothing committed, or the broker could not
// list the partition.
type partitionLag struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	Committed      int64  `json:"committed_offset"`
	LogStartOffset int64  `json:"log_start_offset"`
	LogEndOffset   int64  `json:"log_end_offset"`
	Lag            int64  `json:"lag"`
	MemberID       string `json:"member_id,omitempty"` // "" if no member is assigned the partition
	Metadata       string `json:"metadata,omitempty"`
	Error          string `json:"error,omitempty"`
}

func describeCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:     "describe GROUP...",
		Aliases: []string{"info"},
		Short:   "Describe groups: members, assignments, committed offsets and lag",
		Long: `Describe groups: a summary (coordinator, state, protocol type, assignor
and total lag), every member with the partitions it is assigned, and for every
partition the group is assigned or has committed to: the committed offset, the
log start and end offsets, the lag and the commit metadata.

Lag is the log end offset minus the committed offset. A partition with nothing
committed shows "-" as its offset and lags by the whole log (end minus start),
since a new consumer would read it all. A commit past the end counts as no
lag. A partition whose offsets could not be listed shows "-" as its lag and
the reason under ERROR, and is left out of the total.

Examples:
  eddy group describe billing

  # Several groups, as JSON; total lag per group
  eddy group describe billing audit --format json | jq '.[] | {group, total_lag}'

  # Partitions that are behind
  eddy group describe billing --format json | jq '.[0].offsets[] | select(.lag > 0)'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, opts, args)
		},
	}
}

func runDescribe(cmd *cobra.Command, opts *client.Options, groups []string) error {
	adm, err := opts.Admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	lags, err := adm.Lag(cmd.Context(), groups...)
	if err != nil {
		return fmt.Errorf("describing groups: %w", err)
	}
	var (
		out  []described
		errs []error
	)
	for _, g := range unique(groups) {
		l, ok := lags[g]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("describing group %q: missing from the broker's response", g))
		case l.Error() != nil:
			errs = append(errs, fmt.Errorf("describing group %q: %w", g, l.Error()))
		default:
			out = append(out, buildDescribed(l))
		}
	}
	if len(out) > 0 || opts.JSONOutput() {
		if err := client.PrintEach(cmd.OutOrStdout(), opts, out, printOneDescribed); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func buildDescribed(l kadm.DescribedGroupLag) described {
	d := described{
		Group:        l.Group,
		Coordinator:  coordinator{NodeID: l.Coordinator.NodeID, Host: l.Coordinator.Host, Port: l.Coordinator.Port},
		State:        l.State,
		ProtocolType: l.ProtocolType,
		Protocol:     l.Protocol,
		Members:      make([]member, 0, len(l.Members)),
		Offsets:      []partitionLag{},
		TotalLag:     l.Lag.Total(),
	}
	for _, m := range l.Members {
		d.Members = append(d.Members, member{
			MemberID:   m.MemberID,
			InstanceID: m.InstanceID,
			ClientID:   m.ClientID,
			Host:       m.ClientHost,
			Assigned:   assignedTopics(m.Assigned),
		})
	}
	for _, pl := range l.Lag.Sorted() {
		d.Offsets = append(d.Offsets, buildPartitionLag(pl))
	}
	return d
}

// assignedTopics decodes a member's assignment, sorted by topic and
// partition. Groups that are not Kafka consumers (Connect workers, or a
// member caught mid-rebalance) have no consumer assignment and get none.
func assignedTopics(a kadm.GroupMemberAssignment) []assignedTopic {
	out := []assignedTopic{}
	c, ok := a.AsConsumer()
	if !ok {
		return out
	}
	for _, t := range c.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		out = append(out, assignedTopic{Topic: t.Topic, Partitions: ps})
	}
	slices.SortFunc(out, func(a, b assignedTopic) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

func buildPartitionLag(l kadm.GroupMemberLag) partitionLag {
	p := partitionLag{
		Topic:          l.Topic,
		Partition:      l.Partition,
		Committed:      l.Commit.At,
		LogStartOffset: listedOffset(l.Start),
		LogEndOffset:   listedOffset(l.End),
		Lag:            l.Lag,
		Metadata:       l.Commit.Metadata,
	}
	if p.Committed < 0 {
		p.Committed = -1
	}
	if !l.IsEmpty() {
		p.MemberID = l.Member.MemberID
	}
	if l.Err != nil {
		p.Error = l.Err.Error()
	}
	return p
}

func listedOffset(o kadm.ListedOffset) int64 {
	if o.Err != nil {
		return -1
	}
	return o.Offset
}

func printOneDescribed(w io.Writer, d described) error {
	client.Section(w, "SUMMARY")
	summary := [][]string{
		{"GROUP", d.Group},
		{"COORDINATOR", fmt.Sprintf("%d (%s:%d)", d.Coordinator.NodeID, d.Coordinator.Host, d.Coordinator.Port)},
		{"STATE", client.OrDash(d.State)},
		{"PROTOCOL-TYPE", client.OrDash(d.ProtocolType)},
		{"PROTOCOL", client.OrDash(d.Protocol)},
		{"MEMBERS", strconv.Itoa(len(d.Members))},
		{"TOTAL-LAG", strconv.FormatInt(d.TotalLag, 10)},
	}
	if err := client.Table(w, summary[0], summary[1:]); err != nil {
		return err
	}
	fmt.Fprintln(w)
	client.Section(w, "MEMBERS")
	rows := make([][]string, 0, len(d.Members))
	for _, m := range d.Members {
		rows = append(rows, []string{m.MemberID, client.OrDash(deref(m.InstanceID)), client.OrDash(m.ClientID), client.OrDash(m.Host), formatAssigned(m.Assigned)})
	}
	if err := client.Table(w, []string{"MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNED"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	client.Section(w, "OFFSETS")
	rows = rows[:0]
	for _, p := range d.Offsets {
		rows = append(rows, []string{
			p.Topic, strconv.Itoa(int(p.Partition)), offset(p.Committed), offset(p.LogStartOffset),
			offset(p.LogEndOffset), offset(p.Lag), client.OrDash(p.MemberID), client.OrDash(p.Metadata), client.OrDash(p.Error),
		})
	}
	return client.Table(w, []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-START-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "METADATA", "ERROR"}, rows)
}

// formatAssigned prints an assignment compactly, as topic[p,p] per topic.
func formatAssigned(ts []assignedTopic) string {
	if len(ts) == 0 {
		return "-"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		ps := make([]string, len(t.Partitions))
		for j, p := range t.Partitions {
			ps[j] = strconv.Itoa(int(p))
		}
		parts[i] = t.Topic + "[" + strings.Join(ps, ",") + "]"
	}
	return strings.Join(parts, " ")
}

func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
