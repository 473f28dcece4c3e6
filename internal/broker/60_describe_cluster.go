package broker

// DescribeCluster v0–v2. The one node is the controller. Only the broker
// endpoint type (1) exists; asking for controllers (2) is refused as Kafka
// brokers do. The cluster's authorized operations are reported when asked
// for (authorize.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterAuthorizedOperations = clusterOperations(r, req.IncludeClusterAuthorizedOperations)
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
	return respond(resp)
}
