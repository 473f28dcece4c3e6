package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/replica"
)

// replicas is a node's replica manager and, on a cluster member, the
// client its followers fetch from their leaders with.
type replicas struct {
	*replica.Manager
	client *kgo.Client // nil on a standalone node
}

func (r *replicas) close() {
	r.Close()
	if r.client != nil {
		r.client.Close()
	}
}

// startReplicas returns the node's replicas. A cluster member's followers
// fetch over the Kafka protocol with a franz-go client, as Kafka's own
// replica fetchers speak Fetch: the client finds each leader through the
// cluster's metadata, starting from this node's own listener.
func (n *Node) startReplicas(settings config.BrokerConfig, ctrl *controller.Controller, selfAddr string) (*replicas, error) {
	cfg := replica.Config{NodeID: n.cfg.NodeID, Logs: n.logs, Logger: n.log,
		LagTimeMax:    millis(settings, "replica.lag.time.max.ms"),
		FetchMaxBytes: int32(settings.Int("replica.fetch.max.bytes")),
		FetchMinBytes: int32(settings.Int("replica.fetch.min.bytes")),
		FetchWait:     millis(settings, "replica.fetch.wait.max.ms"),
		Registerer:    n.registerer(),
	}
	if n.quorum == nil {
		return &replicas{Manager: replica.NewManager(cfg)}, nil
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(selfAddr),
		kgo.ClientID("eddy-replica-" + strconv.Itoa(int(n.cfg.NodeID))),
		kgo.MetadataMaxAge(10 * time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	peerTLS, err := n.peerTLS()
	if err != nil {
		return nil, err
	}
	if peerTLS != nil {
		opts = append(opts, kgo.DialTLSConfig(peerTLS))
	}
	if mech := n.peerSASL(settings); mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("node: replica fetch client: %w", err)
	}
	cfg.Send = func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error) {
		return cl.Broker(int(broker)).Request(ctx, req)
	}
	cfg.AlterISR = func(_ context.Context, c replica.ISRChange) (int32, error) {
		return ctrl.AlterPartition(c.Topic, c.Partition, c.Leader, c.LeaderEpoch, c.PartitionEpoch, c.ISR)
	}
	cfg.SyncFollower = settings.Bool("eddy.fsync.acks.all")
	return &replicas{Manager: replica.NewManager(cfg), client: cl}, nil
}

// millis reads a setting given in milliseconds.
func millis(settings config.BrokerConfig, name string) time.Duration {
	return time.Duration(settings.Int(name)) * time.Millisecond
}

// selfAddr is where this node's own Kafka listener is reached.
func selfAddr(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
