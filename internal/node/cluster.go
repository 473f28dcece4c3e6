package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/quorum"
	"github.com/eddy-streaming/eddy/internal/txn"
)

// ParseVoters parses --voters: "id@host:port,..." (Kafka's
// controller.quorum.voters), refusing duplicate ids or addresses.
func ParseVoters(s string) (map[int32]string, error) {
	out := map[int32]string{}
	seen := map[string]int32{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		idText, addr, ok := strings.Cut(e, "@")
		id, err := strconv.ParseInt(idText, 10, 32)
		if !ok || err != nil || id < 0 {
			return nil, fmt.Errorf("node: voter %q: want id@host:port with a non-negative id", e)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("node: voter %q: %w", e, err)
		}
		if _, dup := out[int32(id)]; dup {
			return nil, fmt.Errorf("node: voter id %d listed twice in --voters", id)
		}
		if other, dup := seen[addr]; dup {
			return nil, fmt.Errorf("node: voters %d and %d share the address %s", other, id, addr)
		}
		out[int32(id)], seen[addr] = addr, int32(id)
	}
	if len(out) == 0 {
		return nil, errors.New("node: --voters names no voter")
	}
	return out, nil
}

// clusterIDFor derives the cluster id from the voters: every node given
// the same --voters computes the same id, and a node given another list
// (or pointed at another cluster's data directory) is told so instead of
// joining. Kafka's ids are 16 bytes in URL-safe base64; so is this.
func clusterIDFor(voters map[int32]string) string {
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		fmt.Fprintf(h, "%d@%s\n", id, voters[id])
	}
	var id [16]byte
	copy(id[:], h.Sum(nil))
	return meta.FormatID(id)
}

// checkClusterID records the cluster id in the quorum directory on first
// start, and refuses a directory that belongs to another cluster.
func checkClusterID(dir, want string) error {
	path := filepath.Join(dir, "cluster-id")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		if err := os.WriteFile(path, []byte(want+"\n"), 0o644); err != nil {
			return fmt.Errorf("node: recording the cluster id: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != want {
		return fmt.Errorf("node: the data directory belongs to cluster %s, but --voters describe cluster %s (another cluster's data directory, or a changed --voters list)", got, want)
	}
	return nil
}

// unheardWarning is how long a voter that reaches the others but is never
// dialled back waits for a quorum before it says what is likely wrong.
const unheardWarning = 10 * time.Second

// quorumTick is the metadata quorum's clock: the leader heartbeats every
// tick and followers call an election after about ten silent ones.
const quorumTick = 100 * time.Millisecond

// raftID is a node's id in the quorum: Raft reserves 0, Kafka does not.
func raftID(node int32) uint64 { return uint64(node) + 1 }

// metaQuorum is a node's member of the metadata quorum: a voter, or an
// observer on a node outside --voters.
type metaQuorum struct {
	node      quorumMember
	transport *quorum.TCPTransport // nil on an observer
	voters    map[int32]string     // --voters: each voter's quorum listener
}

// quorumMember is what a node needs of its quorum member, voter or
// observer.
type quorumMember interface {
	Propose(ctx context.Context, cmd []byte) (any, error)
	Status(ctx context.Context) (quorum.Status, error)
	Close() error
}

// startMetaQuorum starts this node's quorum member over store's machine,
// listening on addr, and waits until it has a leader and has applied what
// was committed before it started: a node serves no metadata older than
// the cluster's.
func startMetaQuorum(ctx context.Context, dir string, self int32, addr string, voters map[int32]string, clusterID string, store *meta.Store, sec quorum.Security, logger *slog.Logger, ready *readiness) (*metaQuorum, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: quorum listener: %w", err)
	}
	peers := map[uint64]string{}
	var ids []uint64
	for id, a := range voters {
		ids = append(ids, raftID(id))
		if id != self {
			peers[raftID(id)] = a
		}
	}
	tr := quorum.NewTCPTransport(quorum.TCPConfig{ID: raftID(self), ClusterID: clusterID, Listener: ln, Peers: peers, Logger: logger, Security: sec})
	q, err := quorum.Start(quorum.Config{ID: raftID(self), Voters: ids, Dir: dir, Logger: logger, TickInterval: quorumTick,
		StateMachine: store.Machine(), Transport: tr})
	if err != nil {
		tr.Close()
		return nil, err
	}
	tr.Attach(q)
	return joinQuorum(ctx, &metaQuorum{node: q, transport: tr, voters: voters}, store, logger, ready)
}

// startObserver starts this node's observer of the metadata quorum: a
// broker outside --voters follows the voters' committed metadata and
// proposes through them.
func startObserver(ctx context.Context, dir string, self int32, voters map[int32]string, clusterID string, store *meta.Store, sec quorum.Security, logger *slog.Logger, ready *readiness) (*metaQuorum, error) {
	addrs := map[uint64]string{}
	for id, a := range voters {
		addrs[raftID(id)] = a
	}
	o, err := quorum.StartObserver(quorum.ObserverConfig{ID: raftID(self), ClusterID: clusterID, Voters: addrs, Dir: dir,
		Logger: logger, StateMachine: store.Machine(), Security: sec})
	if err != nil {
		return nil, err
	}
	return joinQuorum(ctx, &metaQuorum{node: o, voters: voters}, store, logger, ready)
}

func joinQuorum(ctx context.Context, mq *metaQuorum, store *meta.Store, logger *slog.Logger, ready *readiness) (*metaQuorum, error) {
	store.SetLog(mq.node)
	if err := mq.waitCaughtUp(ctx, logger, ready); err != nil {
		mq.close()
		return nil, err
	}
	return mq, nil
}

func (mq *metaQuorum) waitCaughtUp(ctx context.Context, logger *slog.Logger, ready *readiness) error {
	logged, warned := false, false
	start := time.Now()
	for {
		st, err := mq.node.Status(ctx)
		if err != nil {
			return fmt.Errorf("node: waiting for the metadata quorum: %w", err)
		}
		if st.Leader != 0 && st.Applied >= st.Commit {
			logger.Info("metadata quorum joined", "leader", int32(st.Leader)-1, "term", st.Term, "applied", st.Applied)
			return nil
		}
		if st.Leader == 0 {
			ready.set(phaseQuorumNoLeader)
		} else {
			ready.set(phaseCatchingUp)
		}
		if !logged {
			logger.Info("waiting for a metadata quorum leader", "voters", slices.Sorted(maps.Keys(mq.voters)))
			logged = true
		}
		if !warned && mq.transport != nil && mq.transport.Misplaced() && time.Since(start) > unheardWarning {
			logger.Warn("other voters are reachable but none has connected to this node's quorum listener: check that --node-id and --controller-addr match this node's entry in --voters (another node may run with this id)",
				"waited", time.Since(start).Round(time.Second))
			warned = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for the metadata quorum: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (mq *metaQuorum) close() error {
	err := mq.node.Close()
	if mq.transport != nil {
		err = errors.Join(err, mq.transport.Close())
	}
	return err
}

// openMeta opens the metadata: the state file of a standalone node, or a
// replicated store fed by the metadata quorum on a cluster member. A data
// directory of one kind is refused by the other.
func (n *Node) openMeta(ctx context.Context, metaDir string, settings config.BrokerConfig) (*meta.Store, error) {
	quorumDir := filepath.Join(n.cfg.DataDir, "quorum")
	if n.cfg.Voters == "" {
		if _, err := os.Stat(quorumDir); err == nil {
			return nil, fmt.Errorf("node: %s belongs to a cluster member; start it with the cluster's --voters", n.cfg.DataDir)
		}
		if err := requireMetadata(n.cfg.DataDir); err != nil {
			return nil, err
		}
		store, err := meta.Open(metaDir, n.cfg.NodeID, n.log)
		if err != nil {
			return nil, fmt.Errorf("opening metadata: %w", err)
		}
		return store, nil
	}
	voters, err := ParseVoters(n.cfg.Voters)
	if err != nil {
		return nil, err
	}
	_, voter := voters[n.cfg.NodeID]
	if voter && n.cfg.ControllerAddr == "" {
		return nil, errors.New("node: a voter needs --controller-addr, its quorum listener")
	}
	if _, err := os.Stat(filepath.Join(metaDir, "state")); err == nil {
		return nil, fmt.Errorf("node: %s holds a standalone node's metadata (meta/state); a cluster member needs a data directory of its own", n.cfg.DataDir)
	}
	clusterID := clusterIDFor(voters)
	if err := checkClusterID(quorumDir, clusterID); err != nil {
		return nil, err
	}
	sec, err := n.quorumSecurity(settings)
	if err != nil {
		return nil, err
	}
	store, err := meta.OpenReplicated(metaDir, n.cfg.NodeID, clusterID, n.log)
	if err != nil {
		return nil, fmt.Errorf("opening metadata: %w", err)
	}
	if voter {
		n.quorum, err = startMetaQuorum(ctx, quorumDir, n.cfg.NodeID, n.cfg.ControllerAddr, voters, clusterID, store, sec, n.log, n.ready)
	} else {
		n.log.Info("not in --voters: joining as an observer of the metadata quorum", "node_id", n.cfg.NodeID)
		n.quorum, err = startObserver(ctx, quorumDir, n.cfg.NodeID, voters, clusterID, store, sec, n.log, n.ready)
	}
	return store, err
}

// producerIDs hands out producer ids: from blocks the quorum assigns on a
// cluster, from the local file (above the ids the logs hold) standalone.
func (n *Node) producerIDs(metaDir string, ctrl *controller.Controller) (*txn.IDAllocator, error) {
	if n.quorum != nil {
		return txn.NewBlockAllocator(func() (int64, int64, error) { return ctrl.AllocateProducerIDs(n.cfg.NodeID) }), nil
	}
	pids, err := txn.OpenIDAllocator(metaDir, n.logs.MaxProducerID())
	if err != nil {
		return nil, fmt.Errorf("opening producer ids: %w", err)
	}
	return pids, nil
}

// register records this node's address and rack in the metadata, as a new
// incarnation (its epoch is the start time: above any earlier start's),
// and returns that epoch. The broker stays fenced until it heartbeats.
func (n *Node) register(ctx context.Context, ctrl *controller.Controller, host string, port int32) (int64, error) {
	b := meta.Broker{ID: n.cfg.NodeID, Host: host, Port: port, Rack: n.cfg.Rack, Epoch: time.Now().UnixNano()}
	for {
		err := ctrl.RegisterBroker(b)
		if err == nil {
			n.log.Info("broker registered", "node_id", b.ID, "host", host, "port", port, "rack", b.Rack)
			return b.Epoch, nil
		}
		// A stale partition epoch: the registration also takes the old
		// incarnation out of every ISR, and the leaders shrinking those
		// same ISRs after the crash raced it ten times over. Both pass.
		if !errors.Is(err, meta.ErrNoQuorum) && !errors.Is(err, meta.ErrStalePartitionEpoch) {
			return 0, fmt.Errorf("node: registering broker %d: %w", b.ID, err)
		}
		n.log.Info("broker registration not applied yet; retrying", "node_id", b.ID, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("node: registering broker %d: %w", b.ID, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// controllerID is the metadata quorum's leader, or this node standalone.
func (n *Node) controllerID() int32 {
	if n.quorum == nil {
		return n.cfg.NodeID
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := n.quorum.node.Status(ctx)
	if err != nil || st.Leader == 0 {
		return -1
	}
	return int32(st.Leader - 1)
}

// status is the quorum for DescribeQuorum: Raft's term as the epoch, its
// commit index as the high watermark, and on the leader each voter's last
// replicated index as its log end offset (-1 where unknown).
func (mq *metaQuorum) status(ctx context.Context) broker.QuorumStatus {
	out := broker.QuorumStatus{Leader: -1, HighWatermark: -1}
	st, err := mq.node.Status(ctx)
	if err == nil && st.Leader != 0 {
		out.Leader, out.Epoch, out.HighWatermark = int32(st.Leader)-1, int32(st.Term), int64(st.Commit)
	}
	for _, id := range slices.Sorted(maps.Keys(mq.voters)) {
		v := broker.QuorumVoter{ID: id, LogEndOffset: -1}
		if m, ok := st.Match[raftID(id)]; ok {
			v.LogEndOffset = int64(m)
		}
		if host, port, err := net.SplitHostPort(mq.voters[id]); err == nil {
			p, _ := strconv.ParseUint(port, 10, 16)
			v.Host, v.Port = host, uint16(p)
		}
		out.Voters = append(out.Voters, v)
	}
	for _, id := range slices.Sorted(maps.Keys(st.Observers)) {
		out.Observers = append(out.Observers, broker.QuorumVoter{ID: int32(id) - 1, LogEndOffset: int64(st.Observers[id])})
	}
	return out
}
