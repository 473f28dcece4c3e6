package broker

// DescribeCluster v0–v2. The brokers are the live (unfenced) ones, as
// Metadata lists them; v2 with IncludeFencedBrokers adds the registered
// fenced ones, flagged IsFenced (KIP-1073). The controller is the metadata
// quorum's leader (this node when standalone). Only the broker endpoint
// type (1) exists; asking for controllers (2) is refused as Kafka brokers
// do. The cluster's authorized operations are reported when asked for
// (authorize.go).

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterAuthorizedOperations = b.clusterOperations(r, req.IncludeClusterAuthorizedOperations)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return respond(resp)
	}
	resp.ClusterID = b.meta.ClusterID()
	resp.ControllerID = b.controllerID()
	for _, br := range b.brokers() {
		resp.Brokers = append(resp.Brokers, kmsg.DescribeClusterResponseBroker{NodeID: br.NodeID, Host: br.Host, Port: br.Port, Rack: br.Rack})
	}
	if req.Version >= 2 && req.IncludeFencedBrokers {
		resp.Brokers = append(resp.Brokers, b.fencedBrokers()...)
		slices.SortFunc(resp.Brokers, func(x, y kmsg.DescribeClusterResponseBroker) int { return cmp.Compare(x.NodeID, y.NodeID) })
	}
	return respond(resp)
}

// fencedBrokers are the registered brokers that are fenced: starting up,
// shut down, or whose session expired.
func (b *Broker) fencedBrokers() []kmsg.DescribeClusterResponseBroker {
	var out []kmsg.DescribeClusterResponseBroker
	for _, r := range b.meta.Image().Brokers() {
		if !r.Fenced {
			continue
		}
		br := kmsg.DescribeClusterResponseBroker{NodeID: r.ID, Host: r.Host, Port: r.Port, IsFenced: true}
		if r.Rack != "" {
			br.Rack = kmsg.StringPtr(r.Rack)
		}
		out = append(out, br)
	}
	return out
}
