// Package server owns the Kafka listener: it accepts connections, reads
// size-prefixed request frames, decodes headers and bodies with kmsg, hands
// each request to the broker and writes the answers back in request order.
//
// Concurrency: Serve runs the accept loop; each connection has a reader
// goroutine and a handler goroutine that processes its requests one at a
// time, in order, as Kafka does (a producer's pipelined requests must reach
// the log in the order sent). Close stops accepting, closes every connection
// and waits for all of those goroutines.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
	// MaxRequestBytes is socket.request.max.bytes: a larger frame closes
	// the connection.
	MaxRequestBytes int32
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Logger == nil {
		return errors.New("server: no logger")
	}
	if c.MaxRequestBytes <= 0 {
		return fmt.Errorf("server: socket.request.max.bytes must be positive, got %d", c.MaxRequestBytes)
	}
	return nil
}

// Server serves the Kafka protocol on one listener.
type Server struct {
	cfg    Config
	log    *slog.Logger
	broker *broker.Broker
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		listener net.Listener
		conns    map[net.Conn]struct{}
		closed   bool
	}
}

// New returns a Server handing requests to b.
func New(cfg Config, b *broker.Broker) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, broker: b}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = map[net.Conn]struct{}{}
	return s, nil
}

// Serve accepts connections on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.mu.listener = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accepting kafka connections: %w", err)
		}
		if !s.track(c) {
			c.Close()
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			newConn(s, c).serve()
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	s.mu.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
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
