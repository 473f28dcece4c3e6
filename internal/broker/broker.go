// Package broker turns Kafka requests into calls on the layers below: one
// file per API key (named after the key, like 00_produce.go), each starting
// with the versions it serves. Handlers are called concurrently from many
// connections; a Broker's own state is guarded where it is declared, and
// the replicas, logs and metadata store it calls are safe for concurrent
// use. Partition data is read and written through internal/replica only;
// storage is called directly to create, configure and delete logs.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/group"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
	"github.com/eddy-streaming/eddy/internal/txn"
)

// Request is one decoded Kafka request with the header fields handlers use.
type Request struct {
	ClientID   string
	ClientHost string // the peer's IP address, as group descriptions show it
	// Principal is the authenticated identity, Kafka's "User:<name>"
	// (AnonymousPrincipal on a connection that did not authenticate).
	Principal     string
	CorrelationID int32
	Msg           kmsg.Request // version already set
	// Hangup closes when the client has hung up; waits that only serve
	// the client (long polls) end there. Nil never closes.
	Hangup <-chan struct{}
	// internal marks a request this broker sent itself (send, in txns.go):
	// a coordinator's own markers and verifications, which no ACL guards.
	internal bool
}

// Response is a handler's answer. Splices, used by Fetch only, name byte
// ranges of segment files that the connection writes in place of marker
// record sets, so fetched data goes from disk to socket without a copy.
type Response struct {
	Msg     kmsg.Response
	Splices []Splice
	// Wait is how long the handler blocked on others rather than working:
	// an acks=all Produce waiting for the followers, a Fetch long poll
	// waiting for data. The request metrics report it apart.
	Wait time.Duration
}

// Release releases the Chunks of the response's splices; whoever sends a
// Response (or drops it) calls it once.
func (r *Response) Release() {
	for _, s := range r.Splices {
		for _, c := range s.Chunks {
			c.Release()
		}
	}
}

// Splice says: where Marker appears as a record set in the encoded Msg,
// send Chunks instead.
type Splice struct {
	Marker []byte
	Chunks []storage.Chunk
}

// Config is the broker's identity and listener facts.
type Config struct {
	NodeID        int32
	AdvertiseHost string
	AdvertisePort int32
	Logger        *slog.Logger
	// Settings are the Kafka broker properties set at start (num.partitions,
	// ...). The dynamic ones stored in the metadata go on top of them:
	// settings() is the effective configuration.
	Settings config.BrokerConfig
	// OnSettingsChange, if set, is called with the effective broker
	// configuration after every change of dynamic broker configs, in
	// change order, so components that cache a setting can take the new
	// value. Partition logs are reconfigured by the broker itself.
	OnSettingsChange func(config.BrokerConfig)
	// Clustered says the metadata is the quorum's: logs follow the image
	// (cluster.go) instead of being made by this node's admin handlers.
	Clustered bool
	// Controller, if set, names the node clients should see as the
	// controller (the metadata quorum's leader); unset, this node.
	Controller func() int32
	// Quorum, if set, reports the metadata quorum (DescribeQuorum).
	Quorum func(context.Context) QuorumStatus
	// Ctrl is the node's controller, shared with the duties the node runs
	// while it leads the quorum (broker sessions); New makes one if nil.
	Ctrl *controller.Controller
	// Send, if set, sends a request to another broker of the cluster: the
	// transaction coordinators write markers with it. Requests to this
	// node are handled in place.
	Send func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)
	// Authorizer, if set, decides every operation a request performs
	// (authorize.go); unset, every principal may do everything, as Kafka
	// without authorizer.class.name.
	Authorizer Authorizer
	// Registerer, if set, gets the broker's metrics (metrics.go); their
	// topic labels follow eddy.metrics.topic.labels in Settings.
	Registerer prometheus.Registerer
}

// Broker serves Kafka API requests for one node.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	logs *storage.Manager
	// replicas serve every read and write of partition data; logs is used
	// only to create, configure and delete logs.
	replicas *replica.Manager
	meta     *meta.Store
	ctrl     *controller.Controller // every metadata change goes through it
	pids     *txn.IDAllocator
	groups   *group.Manager
	txns     *txn.Manager
	verified verifiedTxns // transactional producers checked with their coordinator

	stop context.CancelFunc // ends watchImage's goroutine
	wg   sync.WaitGroup

	// topicMu serialises topic-shaping admin operations (create, delete,
	// add partitions, config changes, dynamic broker config changes) so the
	// metadata store and the logs change together.
	topicMu sync.Mutex

	// current is the effective broker configuration (cfg.Settings with the
	// dynamic configs on top); replaced, under topicMu, when they change.
	current atomic.Pointer[config.BrokerConfig]
	// requestLog is the API keys eddy.log.requests names in current.
	requestLog atomic.Pointer[requestLog]

	metrics *brokerMetrics
}

// New returns a Broker over opened storage and metadata, creating any log
// the metadata names that storage lacks, makes this node the leader of
// every partition it has (a single node is the whole cluster) and starts
// the group coordinators of those of __consumer_offsets. replicas is a
// Manager over logs. Close it before closing storage.
func New(ctx context.Context, cfg Config, logs *storage.Manager, replicas *replica.Manager, store *meta.Store, pids *txn.IDAllocator) (*Broker, error) {
	ctrl := cfg.Ctrl
	if ctrl == nil {
		var err error
		if ctrl, err = controller.New(controller.Config{Store: store, Node: cfg.NodeID, Settings: cfg.Settings}); err != nil {
			return nil, err
		}
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, logs: logs, replicas: replicas, meta: store, ctrl: ctrl, pids: pids,
		metrics: newBrokerMetrics(cfg.Registerer, cfg.Settings.Bool("eddy.metrics.topic.labels"))}
	b.loadSettings()
	if cfg.Clustered {
		return b, b.startClustered(ctx)
	}
	if err := b.reconcileLogs(); err != nil {
		return nil, err
	}
	if err := b.leadAll(); err != nil {
		return nil, err
	}
	if err := b.startGroups(ctx); err != nil {
		return nil, err
	}
	if err := b.startTxns(); err != nil {
		b.groups.Close()
		return nil, err
	}
	return b, nil
}

// startClustered takes the logs and leaderships the image gives this
// node, starts the group coordinators, and follows the image from then on.
func (b *Broker) startClustered(ctx context.Context) error {
	if err := b.reconcileCluster(); err != nil {
		return err
	}
	if err := b.startGroups(ctx); err != nil {
		return err
	}
	if err := b.startTxns(); err != nil {
		b.groups.Close()
		return err
	}
	if err := b.reconcileCluster(); err != nil {
		b.txns.Close()
		b.groups.Close()
		return err
	}
	var watch context.Context
	watch, b.stop = context.WithCancel(context.Background())
	b.watchImage(watch)
	return nil
}

// leadAll makes this node the leader, at epoch 0, of every partition the
// metadata names: after reconcileLogs each has a log here, and a single
// node is the whole cluster.
func (b *Broker) leadAll() error {
	for _, t := range b.meta.Topics() {
		if err := b.replicas.Lead(t.Name, 0, t.Partitions, 0); err != nil {
			return fmt.Errorf("leading the partitions of %s: %w", t.Name, err)
		}
	}
	return nil
}

// leadNew makes this node the leader of partitions [from, to) of topic,
// whose logs were just published (a single node leads everything, at
// epoch 0). It cannot fail while topicMu keeps the logs in place; if it
// did, the partitions would answer UNKNOWN_TOPIC_OR_PARTITION until the
// next start leads every local log.
func (b *Broker) leadNew(topic string, from, to int32) {
	if err := b.replicas.Lead(topic, from, to, 0); err != nil {
		b.log.Error("cannot lead new partitions", "topic", topic, "from", from, "to", to, "err", err)
	}
}

// handler answers one request. A nil Response means no answer is sent
// (Produce with acks=0).
type handler func(b *Broker, ctx context.Context, r *Request) (*Response, error)

// Handle dispatches a request to its API's handler. The caller has checked
// that the key and version are ones Supported reports.
func (b *Broker) Handle(ctx context.Context, r *Request) (*Response, error) {
	api, ok := apis[r.Msg.Key()]
	if !ok {
		return nil, fmt.Errorf("broker: no handler for api key %d", r.Msg.Key())
	}
	return api.handle(b, ctx, r)
}

// Supported reports whether the broker serves key at version.
func Supported(key, version int16) bool {
	api, ok := apis[key]
	return ok && version >= api.min && version <= api.max
}

func respond(m kmsg.Response) (*Response, error) { return &Response{Msg: m}, nil }
