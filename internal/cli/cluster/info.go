package cluster

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// info is what cluster info prints.
type info struct {
	ClusterID  string   `json:"cluster_id"`
	Controller int32    `json:"controller"` // -1 if unknown
	Brokers    []broker `json:"brokers"`
	// Source is the API the answer came from: DescribeCluster, or Metadata
	// for brokers that do not support DescribeCluster (Kafka < 2.8).
	Source string `json:"source"`
	// Quorum is the metadata quorum, from DescribeQuorum; nil when the
	// cluster does not answer it (ZooKeeper-era Kafka, kfake).
	Quorum *quorum `json:"quorum"`
}

// quorum is the metadata quorum as its leader reports it.
type quorum struct {
	Leader        int32   `json:"leader"`
	Epoch         int32   `json:"epoch"`
	HighWatermark int64   `json:"high_watermark"`
	Voters        []voter `json:"voters"`
	// Observers are brokers outside the voters that follow the quorum.
	Observers []voter `json:"observers"`
}

// voter is one voter's progress; Lag is how far its log is behind the
// high watermark (-1 if unknown).
type voter struct {
	ID           int32 `json:"id"`
	LogEndOffset int64 `json:"log_end_offset"`
	Lag          int64 `json:"lag"`
}

type broker struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
	// Fenced brokers are registered but may not serve: starting, shut
	// down, or cut off from the controller. Only DescribeCluster v2
	// (KIP-1073) shows them; Metadata lists live brokers only.
	Fenced bool `json:"fenced"`
}

func infoCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Print the cluster id, controller, brokers and metadata quorum",
		Long: `Print the cluster id, the controller and every broker (id, host, port,
rack, and whether it is alive or fenced), then the metadata quorum: its
leader, epoch and high watermark, and each voter's and observer's (a broker
outside the voters) log end offset and lag.
DescribeCluster is used where the brokers support it, and Metadata
otherwise; --format json says which in its "source" field. Fenced brokers
(registered, but starting, shut down or cut off from the controller) are
listed where the brokers answer DescribeCluster v2; elsewhere only live
brokers are. The quorum section is left out where the cluster does not
answer DescribeQuorum.

Examples:
  eddy cluster info
  eddy cluster info --format json | jq -r '.brokers[] | "\(.host):\(.port)"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInfo(cmd, opts)
		},
	}
}

func runInfo(cmd *cobra.Command, opts *client.Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	cl, err := opts.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()

	in, err := describeCluster(cmd.Context(), cl)
	if err != nil {
		return err
	}
	in.Quorum = describeQuorum(cmd.Context(), cl)
	if opts.JSONOutput() {
		return client.JSON(cmd.OutOrStdout(), in)
	}
	return printInfo(cmd.OutOrStdout(), in)
}

// describeCluster asks with Metadata, which every broker answers, then
// prefers DescribeCluster's answer when the broker supports it: that is
// the API newer Kafka tools use, and an Eddy broker should agree with both.
func describeCluster(ctx context.Context, cl *kgo.Client) (info, error) {
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return info{}, fmt.Errorf("requesting cluster metadata: %w", err)
	}
	in := info{ClusterID: m.Cluster, Controller: m.Controller, Source: "Metadata", Brokers: []broker{}}
	for _, b := range m.Brokers {
		in.Brokers = append(in.Brokers, broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true // dropped by kgo below v2
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || kerr.ErrorForCode(resp.ErrorCode) != nil {
		// Most likely an older broker without DescribeCluster; Metadata
		// already answered everything we print.
		return in, nil
	}
	in = info{ClusterID: resp.ClusterID, Controller: resp.ControllerID, Source: "DescribeCluster", Brokers: []broker{}}
	for _, b := range resp.Brokers {
		in.Brokers = append(in.Brokers, broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack, Fenced: b.IsFenced})
	}
	slices.SortFunc(in.Brokers, func(a, b broker) int { return cmp.Compare(a.ID, b.ID) })
	return in, nil
}

// describeQuorum asks the controller for the metadata quorum; kgo sends
// the request to the controller Metadata names.
func describeQuorum(ctx context.Context, cl *kgo.Client) *quorum {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return nil
	}
	q := &quorum{Leader: p.LeaderID, Epoch: p.LeaderEpoch, HighWatermark: p.HighWatermark,
		Voters: members(p.CurrentVoters, p.HighWatermark), Observers: members(p.Observers, p.HighWatermark)}
	return q
}

// members is each replica's progress, by id; lag is -1 where unknown.
func members(states []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, hw int64) []voter {
	out := []voter{}
	for _, v := range states {
		lag := int64(-1)
		if v.LogEndOffset >= 0 && hw >= 0 {
			lag = max(0, hw-v.LogEndOffset)
		}
		out = append(out, voter{ID: v.ReplicaID, LogEndOffset: v.LogEndOffset, Lag: lag})
	}
	slices.SortFunc(out, func(a, b voter) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func printInfo(w io.Writer, in info) error {
	controller := "-"
	if in.Controller >= 0 {
		controller = strconv.Itoa(int(in.Controller))
	}
	fmt.Fprintln(w, "CLUSTER\n=======")
	if err := client.Table(w, []string{"ID", client.OrDash(in.ClusterID)}, [][]string{{"CONTROLLER", controller}}); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nBROKERS\n=======")
	rows := make([][]string, 0, len(in.Brokers))
	for _, b := range in.Brokers {
		id := strconv.Itoa(int(b.ID))
		if b.ID == in.Controller {
			id += "*"
		}
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		status := "alive"
		if b.Fenced {
			status = "fenced"
		}
		rows = append(rows, []string{id, b.Host, strconv.Itoa(int(b.Port)), rack, status})
	}
	if err := client.Table(w, []string{"ID", "HOST", "PORT", "RACK", "STATUS"}, rows); err != nil {
		return err
	}
	if in.Quorum == nil {
		return nil
	}
	return printQuorum(w, *in.Quorum)
}

// printQuorum prints the metadata quorum: its leader, epoch and high
// watermark, and each voter's and observer's log end offset and lag (-
// where unknown).
func printQuorum(w io.Writer, q quorum) error {
	fmt.Fprintln(w, "\nQUORUM\n======")
	err := client.Table(w, []string{"LEADER", strconv.Itoa(int(q.Leader))},
		[][]string{{"EPOCH", strconv.Itoa(int(q.Epoch))}, {"HIGH WATERMARK", offsetText(q.HighWatermark)}})
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(q.Voters)+len(q.Observers))
	for _, v := range q.Voters {
		id := strconv.Itoa(int(v.ID))
		if v.ID == q.Leader {
			id += "*"
		}
		rows = append(rows, []string{id, "voter", offsetText(v.LogEndOffset), offsetText(v.Lag)})
	}
	for _, o := range q.Observers {
		rows = append(rows, []string{strconv.Itoa(int(o.ID)), "observer", offsetText(o.LogEndOffset), offsetText(o.Lag)})
	}
	return client.Table(w, []string{"MEMBER", "ROLE", "LOG END OFFSET", "LAG"}, rows)
}

func offsetText(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}
