package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Connection layout (docs/format/quorum.md): the dialer sends a hello,
//
//	"EDDYRAFT" | u16 version | u64 from | u64 to | u16 n | cluster id (n bytes)
//
// then frames of u32 length + one protobuf raftpb.Message, one way only:
// each member dials every other for its own messages.
const (
	helloMagic    = "EDDYRAFT"
	helloVersion  = 1
	maxFrameBytes = 256 << 20 // snapshots travel whole
	peerQueue     = 4096
)

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	ID        uint64
	ClusterID string
	// Listener accepts the other members' connections (--controller-addr).
	Listener net.Listener
	Peers    map[uint64]string // member id → quorum address, this member excluded
	Logger   *slog.Logger
	Security Security
}

// TCPTransport carries raft messages between members over TCP. Each
// member keeps one outbound connection per peer, redialled with backoff;
// messages that cannot be queued or written are dropped and reported, as
// raft expects of a lossy network.
type TCPTransport struct {
	cfg   TCPConfig
	log   *slog.Logger
	peers map[uint64]*peer
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	// votersHeard is set by the first voter's connection accepted,
	// votersReached by the first connection to a voter made.
	votersHeard, votersReached atomic.Bool

	guard replayGuard // hellos' nonces (security.go)

	mu struct {
		sync.Mutex
		node  *Node
		conns map[net.Conn]struct{}
	}
}

// Misplaced reports whether this member reached other voters but none
// has connected back: they dial the address --voters gives for this
// member's id, so this node is likely not the one at that address (a
// wrong --node-id, or two nodes with one).
func (t *TCPTransport) Misplaced() bool { return t.votersReached.Load() && !t.votersHeard.Load() }

type peer struct {
	id   uint64
	addr string
	ch   chan *pb.Message
}

// NewTCPTransport starts accepting on cfg.Listener; messages received are
// dropped until Attach names the Node to deliver them to.
func NewTCPTransport(cfg TCPConfig) *TCPTransport {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	t := &TCPTransport{cfg: cfg, log: cfg.Logger, peers: map[uint64]*peer{}, ctx: ctx, stop: stop}
	t.mu.conns = map[net.Conn]struct{}{}
	for id, addr := range cfg.Peers {
		p := &peer{id: id, addr: addr, ch: make(chan *pb.Message, peerQueue)}
		t.peers[id] = p
		t.wg.Go(func() { t.sendLoop(p) })
	}
	t.wg.Go(t.acceptLoop)
	return t
}

// Attach sets the Node that receives messages and hears delivery reports.
func (t *TCPTransport) Attach(n *Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.node = n
}

func (t *TCPTransport) node() *Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.node
}

// Send queues msgs to their peers without blocking.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		select {
		case p.ch <- m:
		default:
			t.failed(p, m)
		}
	}
}

func (t *TCPTransport) failed(p *peer, m *pb.Message) {
	n := t.node()
	if n == nil {
		return
	}
	if m.GetType() == pb.MessageType_MsgSnap {
		n.ReportSnapshot(p.id, false)
	}
	n.ReportUnreachable(p.id)
}

// Close stops every connection and waits for the transport's goroutines.
func (t *TCPTransport) Close() error {
	t.stop()
	err := t.cfg.Listener.Close()
	t.mu.Lock()
	for c := range t.mu.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *TCPTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return false
	}
	t.mu.conns[c] = struct{}{}
	return true
}

func (t *TCPTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
	c.Close()
}

// sendLoop owns the connection to one peer: dial, hello, then write each
// queued message, redialling after any failure.
func (t *TCPTransport) sendLoop(p *peer) {
	backoff := 50 * time.Millisecond
	for t.ctx.Err() == nil {
		c, err := t.dial(p)
		if err != nil {
			t.log.Debug("quorum peer unreachable", "peer", p.id, "addr", p.addr, "err", err)
			t.drainFailed(p)
			select {
			case <-time.After(backoff):
			case <-t.ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		t.write(p, c)
		t.untrack(c)
	}
}

func (t *TCPTransport) dial(p *peer) (net.Conn, error) {
	c, err := t.cfg.Security.dial(t.ctx, p.addr)
	if err != nil {
		return nil, err
	}
	if !t.track(c) {
		c.Close()
		return nil, t.ctx.Err()
	}
	if _, err := c.Write(t.cfg.Security.hello(helloMagic, t.cfg.ID, p.id, t.cfg.ClusterID)); err != nil {
		t.untrack(c)
		return nil, err
	}
	t.votersReached.Store(true)
	return c, nil
}

// drainFailed drops what was queued for an unreachable peer.
func (t *TCPTransport) drainFailed(p *peer) {
	for {
		select {
		case m := <-p.ch:
			t.failed(p, m)
		default:
			return
		}
	}
}

func (t *TCPTransport) write(p *peer, c net.Conn) {
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	for {
		var m *pb.Message
		select {
		case m = <-p.ch:
		case <-t.ctx.Done():
			return
		}
		var err error
		if buf, err = appendFrame(buf[:0], m); err == nil {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err = w.Write(buf)
			if err == nil && len(p.ch) == 0 {
				err = w.Flush()
			}
		}
		if err != nil {
			t.log.Debug("quorum send failed", "peer", p.id, "err", err)
			t.failed(p, m)
			return
		}
		if m.GetType() == pb.MessageType_MsgSnap {
			if n := t.node(); n != nil {
				n.ReportSnapshot(p.id, true)
			}
		}
	}
}

func appendHelloAs(b []byte, magic string, version uint16, from, to uint64, cluster string) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, to)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cluster)))
	return append(b, cluster...)
}

func appendFrame(b []byte, m *pb.Message) ([]byte, error) {
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return nil, fmt.Errorf("quorum: encoding message: %w", err)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func (t *TCPTransport) acceptLoop() {
	for {
		c, err := t.cfg.Listener.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("quorum accept failed", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		if !t.track(c) {
			c.Close()
			return
		}
		// The tracked connection is the raw one: closing it ends the TLS
		// one too.
		raw := c
		c = t.cfg.Security.accept(c)
		t.wg.Go(func() {
			defer t.untrack(raw)
			defer c.Close()
			if err := t.receive(c); err != nil && t.ctx.Err() == nil {
				t.log.Warn("quorum connection refused", "remote", c.RemoteAddr().String(), "err", err)
			}
		})
	}
}

var errHello = errors.New("quorum: bad hello")

// receive checks a peer's hello, then hands its messages to the Node.
func (t *TCPTransport) receive(c net.Conn) error {
	r := bufio.NewReaderSize(c, 64<<10)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	from, observer, err := t.readHello(r)
	if err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Time{})
	if observer {
		return t.serveObserver(c, r, from)
	}
	t.votersHeard.Store(true)
	for {
		m, err := readFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) || t.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("from member %d: %w", from, err)
		}
		if m.GetFrom() != from {
			return fmt.Errorf("member %d sent a message from %d", from, m.GetFrom())
		}
		n := t.node()
		if n == nil {
			continue
		}
		if err := n.Step(t.ctx, m); err != nil {
			return nil // the node stopped
		}
	}
}

// readHello reads a voter's or an observer's hello and checks it names
// this member and cluster; an observer may not claim a voter's id.
func (t *TCPTransport) readHello(r *bufio.Reader) (from uint64, observer bool, err error) {
	var h [len(helloMagic) + 20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if t.cfg.Security.ServerTLS != nil {
			return 0, false, fmt.Errorf("%w (TLS): %v", errHello, err)
		}
		return 0, false, fmt.Errorf("%w: %v", errHello, err)
	}
	switch string(h[:len(helloMagic)]) {
	case helloMagic:
	case observerMagic:
		observer = true
	default:
		return 0, false, fmt.Errorf("%w: not a quorum member", errHello)
	}
	b := h[len(helloMagic):]
	version := binary.BigEndian.Uint16(b)
	if version != helloVersion && version != helloProofVersion {
		return 0, false, fmt.Errorf("%w: version %d", errHello, version)
	}
	from, to := binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint64(b[10:])
	cluster := make([]byte, binary.BigEndian.Uint16(b[18:]))
	if _, err := io.ReadFull(r, cluster); err != nil {
		return 0, false, fmt.Errorf("%w: %v", errHello, err)
	}
	switch {
	case version == helloProofVersion:
		if err := t.cfg.Security.checkProof(r, append(h[:], cluster...), &t.guard, time.Now()); err != nil {
			return 0, false, fmt.Errorf("member %d: %w", from, err)
		}
	case len(t.cfg.Security.Secret) > 0:
		return 0, false, fmt.Errorf("member %d: %w: it sent no proof (a node without this cluster's credentials?)", from, errProof)
	}
	switch {
	case to != t.cfg.ID:
		return 0, false, fmt.Errorf("%w: member %d dialled this address as member %d, but this is member %d (check --voters)", errHello, from, to, t.cfg.ID)
	case string(cluster) != t.cfg.ClusterID:
		return 0, false, fmt.Errorf("%w: member %d belongs to cluster %q, this is %q", errHello, from, cluster, t.cfg.ClusterID)
	case observer && (t.peers[from] != nil || from == t.cfg.ID):
		return 0, false, fmt.Errorf("%w: observer %d has the id of a voter (two nodes with one id?)", errHello, from)
	case !observer && t.peers[from] == nil:
		return 0, false, fmt.Errorf("%w: member %d is not among this member's voters", errHello, from)
	}
	return from, observer, nil
}

func readFrame(r *bufio.Reader) (*pb.Message, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrameBytes {
		return nil, fmt.Errorf("quorum: frame of %d bytes", n)
	}
	// Grown as bytes arrive: a length alone never allocates much.
	b, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil || len(b) != int(n) {
		return nil, io.ErrUnexpectedEOF
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("quorum: decoding message: %w", err)
	}
	return m, nil
}
