package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// errUnhealthy is health's error when it finds a problem: the exit status
// is then non-zero, for scripts and probes.
var errUnhealthy = errors.New("cluster: unhealthy")

// health is what cluster health prints.
type health struct {
	Healthy bool `json:"healthy"`
	// Problems says what makes the cluster unhealthy, one line each.
	Problems   []string `json:"problems"`
	ClusterID  string   `json:"cluster_id"`
	Controller int32    `json:"controller"`
	Brokers    []broker `json:"brokers"`
	Quorum     *quorum  `json:"quorum"` // nil where DescribeQuorum is not answered
	// UnderReplicated partitions have fewer in-sync replicas than
	// replicas; Offline ones have no leader; UnderMinISR ones have fewer
	// in-sync replicas than their topic's min.insync.replicas, so acks=all
	// produce fails.
	UnderReplicated []partition `json:"under_replicated"`
	Offline         []partition `json:"offline"`
	UnderMinISR     []partition `json:"under_min_isr"`
}

type partition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"` // -1 if none
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	MinISR    int     `json:"min_isr,omitempty"` // in under_min_isr only
}

func healthCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check the cluster: fenced brokers, quorum, under-replicated and offline partitions",
		Long: `Check the cluster as a whole and say whether it is healthy. It prints the
brokers (alive or fenced), the metadata quorum (leader, epoch, high
watermark and each voter's lag), and every partition that is
under-replicated (fewer in-sync replicas than replicas), offline (no
leader) or under its topic's min.insync.replicas (acks=all produce fails).

The cluster is unhealthy, and the command exits with status 1, when a
broker is fenced (registered but starting, shut down or cut off from the
controller), the quorum has no leader, or any partition is offline,
under-replicated or under min ISR. Quorum lag alone is not a problem: a
follower trails the leader by a few entries all the time. Each node's own
readiness is on its HTTP listener (/readyz).

Examples:
  # A healthy three-node cluster
  $ eddy cluster health -b kafka-1:9092
  healthy

  CLUSTER
  =======
  ID          q1Sh-9_ISia_zwGINzRvyQ
  CONTROLLER  1

  BROKERS
  =======
  ID  HOST     PORT  RACK  STATUS
  1*  kafka-1  9092  -     alive
  2   kafka-2  9092  -     alive
  3   kafka-3  9092  -     alive

  QUORUM
  ======
  LEADER          1
  EPOCH           4
  HIGH WATERMARK  212

  MEMBER  ROLE   LOG END OFFSET  LAG
  1*      voter  212             0
  2       voter  212             0
  3       voter  211             1

  # Broker 3 is down
  $ eddy cluster health -b kafka-1:9092
  unhealthy
    broker 3 is fenced
    4 partitions are under-replicated
  ...
  UNDER-REPLICATED PARTITIONS
  ===========================
  TOPIC   PARTITION  LEADER  REPLICAS  ISR
  orders  0          1       1,2,3     1,2
  ...
  $ echo $?
  1

  # In a script: the problems only
  eddy cluster health --format json | jq -r '.problems[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHealth(cmd, opts)
		},
	}
}

func runHealth(cmd *cobra.Command, opts *client.Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	cl, err := opts.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	h, err := checkHealth(cmd.Context(), cl)
	if err != nil {
		return err
	}
	if opts.JSONOutput() {
		err = client.JSON(cmd.OutOrStdout(), h)
	} else {
		err = printHealth(cmd.OutOrStdout(), h)
	}
	if err != nil {
		return err
	}
	if !h.Healthy {
		return fmt.Errorf("%w: %s", errUnhealthy, strings.Join(h.Problems, "; "))
	}
	return nil
}

// checkHealth gathers the brokers and quorum as cluster info does, and the
// partitions from Metadata and the topics' min.insync.replicas.
func checkHealth(ctx context.Context, cl *kgo.Client) (health, error) {
	in, err := describeCluster(ctx, cl)
	if err != nil {
		return health{}, err
	}
	h := health{Problems: []string{}, ClusterID: in.ClusterID, Controller: in.Controller, Brokers: in.Brokers, Quorum: describeQuorum(ctx, cl),
		UnderReplicated: []partition{}, Offline: []partition{}, UnderMinISR: []partition{}}
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx)
	if err != nil {
		return health{}, fmt.Errorf("requesting topic metadata: %w", err)
	}
	minISR := minInsyncReplicas(ctx, adm, md.Topics.Names())
	for _, t := range md.Topics.Sorted() {
		for _, p := range t.Partitions.Sorted() {
			h.addPartition(p, minISR[t.Topic])
		}
	}
	h.findProblems()
	return h, nil
}

func (h *health) addPartition(p kadm.PartitionDetail, minISR int) {
	pt := partition{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
	if p.Leader < 0 {
		h.Offline = append(h.Offline, pt)
	}
	if len(p.ISR) < len(p.Replicas) {
		h.UnderReplicated = append(h.UnderReplicated, pt)
	}
	if len(p.ISR) < minISR {
		pt.MinISR = minISR
		h.UnderMinISR = append(h.UnderMinISR, pt)
	}
}

// minInsyncReplicas is each topic's min.insync.replicas, from one
// DescribeConfigs; a topic it cannot tell is left out (0: no check).
func minInsyncReplicas(ctx context.Context, adm *kadm.Client, topics []string) map[string]int {
	out := map[string]int{}
	if len(topics) == 0 {
		return out
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return out
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "min.insync.replicas" && c.Value != nil {
				if n, err := strconv.Atoi(*c.Value); err == nil {
					out[rc.Name] = n
				}
			}
		}
	}
	return out
}

// findProblems lists what makes the cluster unhealthy.
func (h *health) findProblems() {
	for _, b := range h.Brokers {
		if b.Fenced {
			h.Problems = append(h.Problems, fmt.Sprintf("broker %d is fenced", b.ID))
		}
	}
	if h.Quorum != nil && h.Quorum.Leader < 0 {
		h.Problems = append(h.Problems, "the metadata quorum has no leader")
	}
	count := func(ps []partition, what string) {
		switch len(ps) {
		case 0:
		case 1:
			h.Problems = append(h.Problems, fmt.Sprintf("1 partition is %s", what))
		default:
			h.Problems = append(h.Problems, fmt.Sprintf("%d partitions are %s", len(ps), what))
		}
	}
	count(h.Offline, "offline")
	count(h.UnderReplicated, "under-replicated")
	count(h.UnderMinISR, "under min.insync.replicas")
	h.Healthy = len(h.Problems) == 0
}

func printHealth(w io.Writer, h health) error {
	if h.Healthy {
		fmt.Fprintln(w, "healthy")
	} else {
		fmt.Fprintln(w, "unhealthy")
		for _, p := range h.Problems {
			fmt.Fprintln(w, "  "+p)
		}
	}
	fmt.Fprintln(w)
	if err := printInfo(w, info{ClusterID: h.ClusterID, Controller: h.Controller, Brokers: h.Brokers, Quorum: h.Quorum}); err != nil {
		return err
	}
	for _, s := range []struct {
		title string
		ps    []partition
	}{{"OFFLINE PARTITIONS", h.Offline}, {"UNDER-REPLICATED PARTITIONS", h.UnderReplicated}, {"UNDER MIN ISR PARTITIONS", h.UnderMinISR}} {
		if len(s.ps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n%s\n", s.title, strings.Repeat("=", len(s.title)))
		rows := make([][]string, 0, len(s.ps))
		for _, p := range s.ps {
			rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), idText(p.Leader), ids(p.Replicas), ids(p.ISR)})
		}
		if err := client.Table(w, []string{"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"}, rows); err != nil {
			return err
		}
	}
	return nil
}

func idText(id int32) string {
	if id < 0 {
		return "-"
	}
	return strconv.Itoa(int(id))
}

func ids(list []int32) string {
	out := make([]string, len(list))
	for i, id := range list {
		out[i] = strconv.Itoa(int(id))
	}
	return client.OrDash(strings.Join(out, ","))
}
