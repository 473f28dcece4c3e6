package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
	coord "github.com/eddy-streaming/eddy/internal/coordinator"
	"github.com/eddy-streaming/eddy/internal/replica"
)

// Config configures a Manager.
type Config struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NumPartitions is the partition count of __consumer_offsets.
	NumPartitions int32
	// Log returns this node's replica of a __consumer_offsets partition,
	// nil if there is none or this node does not lead it (the partition's
	// groups are then unavailable until it does).
	Log func(partition int32) *replica.Partition
	// PartitionExists reports whether offsets may be committed for a
	// topic partition.
	PartitionExists func(topic string, partition int32) bool
	// TopicName and TopicID map topic IDs for OffsetCommit and
	// OffsetFetch v10+; nil answers topic IDs with UNKNOWN_TOPIC_ID.
	TopicName func(id [16]byte) (string, bool)
	TopicID   func(topic string) ([16]byte, bool)
	// Topics lists every topic (internal ones included) with its
	// partition count; KIP-848 consumer groups resolve subscriptions
	// against it. Nil means no topics.
	Topics func() map[string]int32
	// Settings holds the group.* and offsets.* broker properties.
	Settings config.BrokerConfig
	// GroupConfig returns one of a group's dynamic configs (KIP-848 GROUP
	// config resources: consumer.session.timeout.ms,
	// consumer.heartbeat.interval.ms), which win over the broker's
	// group.consumer.* settings for that group. Called by the coordinator
	// goroutines on every heartbeat, so it must be cheap and never block.
	// Nil means no group has any.
	GroupConfig func(group, name string) (string, bool)
	// Registerer receives eddy_group_rebalances_total (metrics.go), taken
	// off it at Close; nil leaves it off.
	Registerer prometheus.Registerer
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("group: NumPartitions %d < 1", c.NumPartitions)
	case c.Log == nil:
		return errors.New("group: Log is nil")
	}
	return nil
}

// Manager serves the group APIs for the __consumer_offsets partitions this
// node is elected coordinator of (Elect): one runner goroutine, owning one
// coordinator core, per elected partition. Groups of other partitions are
// answered NOT_COORDINATOR.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	settings settings
	runners  *coord.Registry
	// rebalances is shared by every partition's core, each counting on
	// its runner's goroutine.
	rebalances prometheus.Counter
}

// NewManager returns a Manager coordinating no partition yet; Elect starts
// the coordinator of one.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PartitionExists == nil {
		cfg.PartitionExists = func(string, int32) bool { return true }
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, now: cfg.Now, settings: readSettings(cfg.Settings), rebalances: newRebalances()}
	if err := m.registerMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	runners, err := coord.NewRegistry(coord.Config{
		Name: "group", Logger: cfg.Logger, Now: cfg.Now, NumPartitions: cfg.NumPartitions, Log: cfg.Log,
		NewLoader:     func(*coord.Runner) coord.Loader { return loader{m} },
		ErrorResponse: errorResponse,
		// Joins and syncs park until their rebalance completes: a client
		// that stops waiting must leave the group's books.
		CancelOnGiveUp: true,
	})
	if err != nil {
		m.unregister()
		return nil, fmt.Errorf("group: %w", err)
	}
	m.runners = runners
	return m, nil
}

// Elect makes this node the coordinator of partition's groups at the
// partition's leader epoch, as Kafka's GroupCoordinator.onElection does:
// the coordinator loads the groups from the partition's log in the
// background, answering COORDINATOR_LOAD_IN_PROGRESS until done
// (WaitLoaded waits for that). An election at the epoch already held, or
// an older one, changes nothing; a newer one reloads.
func (m *Manager) Elect(partition, epoch int32) error {
	if err := m.runners.Elect(partition, epoch); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	return nil
}

// Resign stops coordinating partition's groups (its leadership moved):
// waiting requests are answered NOT_COORDINATOR, the groups' state is
// dropped, and later requests are answered NOT_COORDINATOR until Elect.
func (m *Manager) Resign(partition int32) { m.runners.Resign(partition) }

// runner returns partition's runner, nil if not elected.
func (m *Manager) runner(partition int32) *coord.Runner {
	if partition < 0 || partition >= m.cfg.NumPartitions {
		return nil
	}
	return m.runners.Runner(partition)
}

// do sends req to partition's coordinator, NOT_COORDINATOR if this node is
// not it.
func (m *Manager) do(ctx context.Context, partition int32, req kmsg.Request) kmsg.Response {
	return m.runners.Do(ctx, partition, req, clientFrom(ctx))
}

// WaitLoaded waits until every elected partition has finished its first
// load (or failed it), or ctx ends.
func (m *Manager) WaitLoaded(ctx context.Context) error { return m.runners.WaitLoaded(ctx) }

// Close stops every coordinator. Requests still waiting are answered with
// NOT_COORDINATOR, which sends clients to look for the new coordinator.
func (m *Manager) Close() error {
	m.runners.Close()
	m.unregister()
	return nil
}

func (m *Manager) unregister() {
	if m.cfg.Registerer != nil {
		m.cfg.Registerer.Unregister(m.rebalances)
	}
}

// clientKey is the context key of a request's client facts.
type clientKey struct{}

// ClientInfo is what DescribeGroups reports about a member's connection.
type ClientInfo struct {
	ClientID, Host string
}

// WithClient returns ctx carrying the request's client id and host, which
// JoinGroup stores with the member (and uses in generated member ids).
func WithClient(ctx context.Context, ci ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, ci)
}

func clientFrom(ctx context.Context) ClientInfo {
	ci, _ := ctx.Value(clientKey{}).(ClientInfo)
	return ci
}

// Handle answers a group API request (its version set). Requests naming
// several groups are split by partition and the answers merged.
func (m *Manager) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.SyncGroupRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.HeartbeatRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.LeaveGroupRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.OffsetCommitRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.TxnOffsetCommitRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.OffsetDeleteRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.OffsetFetchRequest:
		if r.Version < 8 {
			return m.one(ctx, r.Group, req), nil
		}
		return m.offsetFetchGroups(ctx, r), nil
	case *kmsg.DescribeGroupsRequest:
		return m.describeGroups(ctx, r), nil
	case *kmsg.DeleteGroupsRequest:
		return m.deleteGroups(ctx, r), nil
	case *kmsg.ListGroupsRequest:
		return m.listGroups(ctx, r), nil
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return m.one(ctx, r.Group, req), nil
	case *kmsg.ConsumerGroupDescribeRequest:
		return m.consumerGroupDescribe(ctx, r), nil
	}
	return nil, fmt.Errorf("%w: api key %d", errUnsupported, req.Key())
}

// one sends a single-group request to the group's coordinator.
func (m *Manager) one(ctx context.Context, groupID string, req kmsg.Request) kmsg.Response {
	return m.do(ctx, PartitionFor(groupID, m.cfg.NumPartitions), req)
}

// offsetFetchGroups splits an OffsetFetch v8+ by partition.
func (m *Manager) offsetFetchGroups(ctx context.Context, r *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(r.Groups))
	for p, idx := range m.byPartition(len(r.Groups), func(i int) string { return r.Groups[i].Group }) {
		sub := *r
		sub.Groups = nil
		for _, i := range idx {
			sub.Groups = append(sub.Groups, r.Groups[i])
		}
		sr := m.do(ctx, p, &sub).(*kmsg.OffsetFetchResponse)
		for j, i := range idx {
			resp.Groups[i] = sr.Groups[j]
		}
		resp.ThrottleMillis = max(resp.ThrottleMillis, sr.ThrottleMillis)
	}
	return resp
}

// describeGroups splits a DescribeGroups by partition.
func (m *Manager) describeGroups(ctx context.Context, r *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = splitGroups(m, r.Groups, func(p int32, groups []string) []kmsg.DescribeGroupsResponseGroup {
		sub := *r
		sub.Groups = groups
		return m.do(ctx, p, &sub).(*kmsg.DescribeGroupsResponse).Groups
	})
	return resp
}

// consumerGroupDescribe splits a ConsumerGroupDescribe by partition.
func (m *Manager) consumerGroupDescribe(ctx context.Context, r *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.Groups = splitGroups(m, r.Groups, func(p int32, groups []string) []kmsg.ConsumerGroupDescribeResponseGroup {
		sub := *r
		sub.Groups = groups
		return m.do(ctx, p, &sub).(*kmsg.ConsumerGroupDescribeResponse).Groups
	})
	return resp
}

// deleteGroups splits a DeleteGroups by partition.
func (m *Manager) deleteGroups(ctx context.Context, r *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = splitGroups(m, r.Groups, func(p int32, groups []string) []kmsg.DeleteGroupsResponseGroup {
		sub := *r
		sub.Groups = groups
		return m.do(ctx, p, &sub).(*kmsg.DeleteGroupsResponse).Groups
	})
	return resp
}

// splitGroups asks each partition's coordinator about its share of groups
// and returns the answers in the order the groups were named.
func splitGroups[G any](m *Manager, groups []string, ask func(partition int32, groups []string) []G) []G {
	out := make([]G, len(groups))
	for p, idx := range m.byPartition(len(groups), func(i int) string { return groups[i] }) {
		sub := make([]string, 0, len(idx))
		for _, i := range idx {
			sub = append(sub, groups[i])
		}
		for j, g := range ask(p, sub) {
			out[idx[j]] = g
		}
	}
	return out
}

// byPartition groups the indexes 0..n-1 by the partition of group(i), in
// partition order.
func (m *Manager) byPartition(n int, group func(int) string) map[int32][]int {
	out := make(map[int32][]int)
	for i := range n {
		p := PartitionFor(group(i), m.cfg.NumPartitions)
		out[p] = append(out[p], i)
	}
	return out
}

// listGroups asks every coordinator this node runs; a partition still
// loading makes the answer COORDINATOR_LOAD_IN_PROGRESS with the groups
// known so far, as Kafka does.
func (m *Manager) listGroups(ctx context.Context, r *kmsg.ListGroupsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, run := range m.runners.Elected() {
		sr := run.Do(ctx, r, clientFrom(ctx)).(*kmsg.ListGroupsResponse)
		if sr.ErrorCode != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = sr.ErrorCode
		}
		resp.Groups = append(resp.Groups, sr.Groups...)
	}
	return resp
}

// settings are the broker properties the cores read, resolved once.
type settings struct {
	initialDelay    time.Duration
	minSession      int32
	maxSession      int32
	maxSize         int
	retention       time.Duration
	retentionCheck  time.Duration
	maxMetadataSize int

	// KIP-848 consumer groups.
	heartbeatInterval time.Duration
	consumerSession   time.Duration
	consumerMaxSize   int
	assignors         []string // served, the default first
}

// Kafka's defaults, used for properties internal/meta does not define.
const (
	defaultInitialDelayMs      = 3000
	defaultMinSessionMs        = 6000
	defaultMaxSessionMs        = 1800000
	defaultMaxSize             = 1<<31 - 1
	defaultRetentionMinutes    = 7 * 24 * 60
	defaultRetentionCheckMs    = 600000
	defaultOffsetMetadataBytes = 4096
	defaultHeartbeatIntervalMs = 5000
	defaultConsumerSessionMs   = 45000
)

func readSettings(c config.BrokerConfig) settings {
	return settings{
		initialDelay:    time.Duration(settingInt(c, "group.initial.rebalance.delay.ms", defaultInitialDelayMs)) * time.Millisecond,
		minSession:      int32(settingInt(c, "group.min.session.timeout.ms", defaultMinSessionMs)),
		maxSession:      int32(settingInt(c, "group.max.session.timeout.ms", defaultMaxSessionMs)),
		maxSize:         int(settingInt(c, "group.max.size", defaultMaxSize)),
		retention:       time.Duration(settingInt(c, "offsets.retention.minutes", defaultRetentionMinutes)) * time.Minute,
		retentionCheck:  time.Duration(settingInt(c, "offsets.retention.check.interval.ms", defaultRetentionCheckMs)) * time.Millisecond,
		maxMetadataSize: int(settingInt(c, "offset.metadata.max.bytes", defaultOffsetMetadataBytes)),

		heartbeatInterval: time.Duration(settingInt(c, "group.consumer.heartbeat.interval.ms", defaultHeartbeatIntervalMs)) * time.Millisecond,
		consumerSession:   time.Duration(settingInt(c, "group.consumer.session.timeout.ms", defaultConsumerSessionMs)) * time.Millisecond,
		consumerMaxSize:   int(settingInt(c, "group.consumer.max.size", defaultMaxSize)),
		assignors:         settingAssignors(c),
	}
}

// settingAssignors is group.consumer.assignors, keeping the assignors
// served ("uniform", "range"); Kafka's default list if none is left.
func settingAssignors(c config.BrokerConfig) []string {
	v, _ := c.Value("group.consumer.assignors")
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if (a == assignorUniform || a == assignorRange) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{assignorUniform, assignorRange}
	}
	return out
}

// settingInt reads an integer property, or def if internal/meta does not
// define it (Value answers "" for unknown names) or it does not parse.
func settingInt(c config.BrokerConfig, name string, def int64) int64 {
	v, _ := c.Value(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}

// notCoordinator answers req with NOT_COORDINATOR.
func notCoordinator(req kmsg.Request) kmsg.Response {
	return errorResponse(req, kerr.NotCoordinator.Code)
}

// CompleteTxn tells the coordinator of a __consumer_offsets partition that
// a marker for producerID's transaction was written there: its pending
// offsets commit or are dropped. It returns once the coordinator has
// taken it, so requests after it see the outcome; a partition not
// coordinated here has nothing to do (its coordinator replays the marker).
func (m *Manager) CompleteTxn(ctx context.Context, partition int32, producerID int64, commit bool) {
	if r := m.runner(partition); r != nil {
		r.Post(ctx, txnEnd{producerID: producerID, commit: commit})
	}
}
