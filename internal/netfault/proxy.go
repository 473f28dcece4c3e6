// Package netfault is a TCP proxy that injects network faults between
// cluster nodes in tests: it forwards connections to a target and can cut
// them (drop every connection and refuse new ones, as a partition does) or
// stall them (hold bytes without closing, as a paused or overloaded peer
// does), then heal.
//
// Concurrency contract: a Proxy is safe for concurrent use; it owns its
// listener and the goroutines of each forwarded connection, and Close
// waits for all of them.
package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does with traffic.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Cut closes every forwarded connection and refuses new ones.
	Cut
	// Stall keeps connections open but forwards nothing until healed.
	Stall
)

// Proxy forwards connections accepted on its address to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		mode   Mode
		conns  map[net.Conn]struct{}
		healed chan struct{} // closed when the mode leaves Stall
		closed bool
	}
}

// Listen starts a proxy on a free loopback port forwarding to target.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target}
	p.mu.conns = map[net.Conn]struct{}{}
	p.mu.healed = make(chan struct{})
	close(p.mu.healed)
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is where to connect to reach the target through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode. Cut closes the open connections at once.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.mode == Stall && m != Stall {
		close(p.mu.healed)
	}
	if p.mu.mode != Stall && m == Stall {
		p.mu.healed = make(chan struct{})
	}
	p.mu.mode = m
	if m == Cut {
		for c := range p.mu.conns {
			c.Close()
		}
	}
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.mu.closed = true
	if p.mu.mode == Stall {
		close(p.mu.healed)
		p.mu.mode = Cut
	}
	for c := range p.mu.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// track registers c unless the proxy is cut or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed || p.mu.mode == Cut {
		return false
	}
	p.mu.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.mu.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) forward(client net.Conn) {
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// pipe copies from src to dst, waiting while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitHealed() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

// waitHealed blocks while the mode is Stall; false means cut or closed.
func (p *Proxy) waitHealed() bool {
	p.mu.Lock()
	healed := p.mu.healed
	p.mu.Unlock()
	<-healed
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.mode == Pass && !p.mu.closed
}
