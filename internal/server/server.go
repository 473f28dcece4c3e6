// Package server owns the Kafka listener: it accepts connections, reads
// size-prefixed request frames, decodes headers and bodies with kmsg, hands
// each request to the broker and writes the answers back in request order.
//
// Concurrency: Serve runs the accept loop; each connection has a reader
// goroutine and a handler goroutine that processes its requests one at a
// time, in order, as Kafka does (a producer's pipelined requests must reach
// the log in the order sent). Close stops accepting, closes every connection
// and waits for all of those goroutines.
//
// Memory: a frame's buffer grows only as its bytes arrive, each growth
// reserved first in a pool shared by every connection
// (queued.max.request.bytes); its decoded form is reserved in a second
// pool of the same size before decoding. Both are
// released once the response is written, so many connections cannot add
// up to more than twice that budget (docs/architecture.md, "Limits").
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// ErrNotServing is Health's answer when the accept loop is not running.
var ErrNotServing = errors.New("server: kafka listener is not serving")

// Accept errors (EMFILE and the like) are retried after a pause that
// doubles from minAcceptDelay to maxAcceptDelay, as net/http does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
	// acceptErrorHold is how long Health reports an accept error: a
	// retried Accept that no longer fails blocks until a client comes, so
	// a failure that does not recur within this is over.
	acceptErrorHold = 2 * maxAcceptDelay
)

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
	// MaxRequestBytes is socket.request.max.bytes: a larger frame closes
	// the connection.
	MaxRequestBytes int32
	// MaxQueuedBytes is queued.max.request.bytes: the bytes of request
	// frames in flight across all connections, and again of their decoded
	// form. At least MaxRequestBytes.
	MaxQueuedBytes int64
	// ReadTimeout (eddy.request.read.timeout.ms) bounds how long a frame
	// may take to arrive once its first byte has, not counting waits for
	// room in the pool; 0 means no bound.
	ReadTimeout time.Duration
	// IdleTimeout (connections.max.idle.ms) closes a connection with no
	// request in flight that sends nothing for this long, one that sends
	// nothing for this long in the middle of a frame, and one whose client
	// reads no response for this long; 0 means never.
	IdleTimeout time.Duration
	Limits      Limits
	// TLS, if set, wraps every connection in TLS; SASL, if set, requires
	// clients to authenticate. Both: Kafka's SASL_SSL.
	TLS  *TLSConfig
	SASL *SASLConfig
	// Registerer, if set, gets the listener's metrics (metrics.go).
	Registerer prometheus.Registerer
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case c.Logger == nil:
		return errors.New("server: no logger")
	case c.MaxRequestBytes <= 0:
		return fmt.Errorf("server: socket.request.max.bytes must be positive, got %d", c.MaxRequestBytes)
	case c.MaxQueuedBytes < int64(c.MaxRequestBytes):
		return fmt.Errorf("server: queued.max.request.bytes (%d) must be at least socket.request.max.bytes (%d)", c.MaxQueuedBytes, c.MaxRequestBytes)
	case c.ReadTimeout < 0 || c.IdleTimeout < 0:
		return errors.New("server: negative timeout")
	case c.Limits.MaxConnections < 0 || c.Limits.MaxConnectionsPerIP < 0 || c.Limits.CreationRate < 0:
		return errors.New("server: negative connection limit")
	case c.TLS != nil && (c.TLS.CertFile == "" || c.TLS.KeyFile == ""):
		return errors.New("server: TLS needs both a certificate and a key file")
	case c.SASL != nil:
		return c.SASL.validate()
	}
	return nil
}

// Server serves the Kafka protocol on one listener.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rl      *rateLog
	metrics *serverMetrics
	broker  *broker.Broker
	frames  *framePool    // bytes of frames read and not yet answered
	decoded *pool         // their decoded form
	tls     *certReloader // nil: plaintext
	// secret keys the fake SCRAM salts of unknown users.
	secret []byte
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		listener    net.Listener
		conns       map[net.Conn]struct{}
		perIP       map[string]int
		rate        tokenBucket
		closed      bool
		serving     bool      // Serve's accept loop is running
		acceptErr   error     // the last Accept failed with this
		acceptErrAt time.Time // when
	}
}

// New returns a Server handing requests to b.
func New(cfg Config, b *broker.Broker) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rl: newRateLog(cfg.Logger), broker: b,
		frames: newFramePool(cfg.MaxQueuedBytes, int64(cfg.MaxRequestBytes)), decoded: newPool(cfg.MaxQueuedBytes)}
	if cfg.TLS != nil {
		var err error
		if s.tls, err = newCertReloader(*cfg.TLS, s.rl); err != nil {
			return nil, err
		}
	}
	s.secret = make([]byte, 32)
	rand.Read(s.secret)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = map[net.Conn]struct{}{}
	s.mu.perIP = map[string]int{}
	s.metrics = newServerMetrics(cfg.Registerer, s)
	return s, nil
}

// MemoryInUse reports the bytes reserved for requests in flight: their
// frames, and their decoded form (Kafka's MemoryPoolUsed).
func (s *Server) MemoryInUse() (frames, decoded int64) {
	return s.frames.inUse(), s.decoded.inUse()
}

// Health reports whether the listener is accepting connections: nil when
// it is, ErrNotServing when Serve is not running, or the error of the
// last Accept while accepting keeps failing (it did within the last
// acceptErrorHold).
func (s *Server) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.mu.serving:
		return ErrNotServing
	case s.mu.acceptErr != nil && time.Since(s.mu.acceptErrAt) < acceptErrorHold:
		return fmt.Errorf("server: accepting kafka connections: %w", s.mu.acceptErr)
	}
	return nil
}

// Serve accepts connections on ln until Close, which makes it return nil.
// A failing Accept (out of file descriptors, say) is logged and retried
// after a pause: the listener never gives up while the node runs.
func (s *Server) Serve(ln net.Listener) error {
	if !s.startServing(ln) {
		ln.Close()
		return nil
	}
	defer s.setServing(false, nil)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.setServing(true, err)
			s.rl.warn("accept", "accepting kafka connection failed; retrying", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return nil
			}
			continue
		}
		delay = 0
		s.setServing(true, nil)
		s.serveConn(c)
	}
}

func (s *Server) startServing(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	s.mu.listener, s.mu.serving = ln, true
	return true
}

func (s *Server) setServing(serving bool, acceptErr error) {
	s.mu.Lock()
	s.mu.serving, s.mu.acceptErr, s.mu.acceptErrAt = serving, acceptErr, time.Now()
	s.mu.Unlock()
}

// serveConn admits c under the connection limits and starts serving it,
// or closes it: Kafka, too, accepts and then closes a connection over its
// limits, so the client sees a closed connection and retries.
func (s *Server) serveConn(c net.Conn) {
	host := peerHost(c)
	if err := s.track(c, host); err != nil {
		c.Close()
		if !errors.Is(err, net.ErrClosed) {
			s.rl.warn("limit", "refused kafka connection", "remote", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.untrack(c, host)
		newConn(s, c, host).serve()
	}()
}

func peerHost(c net.Conn) string {
	remote := c.RemoteAddr().String()
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

func (s *Server) track(c net.Conn, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return net.ErrClosed
	}
	if err := s.admitLocked(host, time.Now()); err != nil {
		if c, ok := s.metrics.rejected[err]; ok {
			c.Inc()
		}
		return err
	}
	s.mu.conns[c] = struct{}{}
	s.metrics.accepted.Inc()
	return nil
}

func (s *Server) untrack(c net.Conn, host string) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	if s.mu.perIP[host]--; s.mu.perIP[host] <= 0 {
		delete(s.mu.perIP, host)
	}
	s.mu.Unlock()
	c.Close()
}

// Close stops the listener, closes every connection and waits for their
// goroutines; in-flight requests see their context cancelled.
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	if s.mu.listener != nil {
		s.mu.listener.Close()
	}
	for c := range s.mu.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}
