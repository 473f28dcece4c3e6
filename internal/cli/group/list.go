package group

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// listed is one row of list's output.
type listed struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

// groupStates are the states a group can be in, as the broker spells them:
// the classic protocol's five, then the ones KIP-848 groups add.
var groupStates = []string{
	"PreparingRebalance", "CompletingRebalance", "Stable", "Empty", "Dead",
	"Assigning", "Reconciling", "NotReady",
}

func listCommand(opts *client.Options) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List groups",
		Long: `List groups with their state, protocol type ("consumer" for Kafka
consumers, "connect" for Kafka Connect workers, empty for groups that only
ever had offsets committed to them) and the node ID of their coordinator.

--state keeps only groups in the given states (case-insensitive; repeat the
flag or separate with commas): PreparingRebalance, CompletingRebalance,
Stable, Empty, Dead, Assigning, Reconciling or NotReady.

Examples:
  eddy group list
  eddy group list --state empty

  # Groups with running consumers, for a script
  eddy group list --state Stable,PreparingRebalance,CompletingRebalance --format json | jq -r '.[].group'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, opts, states)
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only list groups in these states")
	return cmd
}

func runList(cmd *cobra.Command, opts *client.Options, states []string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	filter, err := parseStates(states)
	if err != nil {
		return err
	}
	adm, err := opts.NewAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()

	groups, err := adm.ListGroups(cmd.Context(), filter...)
	if err != nil {
		return fmt.Errorf("listing groups: %w", err)
	}
	out := make([]listed, 0, len(groups))
	rows := make([][]string, 0, len(groups))
	for _, g := range groups.Sorted() {
		l := listed{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator}
		out = append(out, l)
		rows = append(rows, []string{l.Group, client.OrDash(l.State), client.OrDash(l.ProtocolType), strconv.Itoa(int(l.Coordinator))})
	}
	return opts.Render(cmd.OutOrStdout(), out, []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}, rows)
}

// parseStates maps each --state value to the broker's spelling. Kafka
// matches states case-insensitively but not every broker does, so the
// canonical form is what goes on the wire; unknown states are an error
// rather than a filter that silently matches nothing.
func parseStates(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		canon, ok := canonicalState(strings.TrimSpace(s))
		if !ok {
			return nil, fmt.Errorf("unknown --state %q (want one of %s)", s, strings.Join(groupStates, ", "))
		}
		out = append(out, canon)
	}
	return out, nil
}

func canonicalState(s string) (string, bool) {
	for _, st := range groupStates {
		if strings.EqualFold(s, st) {
			return st, true
		}
	}
	return "", false
}
