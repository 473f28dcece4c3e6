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
}

type broker struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
}

func infoCommand(opts *client.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Print the cluster id, controller and brokers",
		Long: `Print the cluster id, the controller and every broker (id, host, port,
rack). DescribeCluster is used where the brokers support it, and Metadata
otherwise; --format json says which in its "source" field.

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
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || kerr.ErrorForCode(resp.ErrorCode) != nil {
		// Most likely an older broker without DescribeCluster; Metadata
		// already answered everything we print.
		return in, nil
	}
	in = info{ClusterID: resp.ClusterID, Controller: resp.ControllerID, Source: "DescribeCluster", Brokers: []broker{}}
	for _, b := range resp.Brokers {
		in.Brokers = append(in.Brokers, broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	slices.SortFunc(in.Brokers, func(a, b broker) int { return cmp.Compare(a.ID, b.ID) })
	return in, nil
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
		rows = append(rows, []string{id, b.Host, strconv.Itoa(int(b.Port)), rack})
	}
	return client.Table(w, []string{"ID", "HOST", "PORT", "RACK"}, rows)
}
