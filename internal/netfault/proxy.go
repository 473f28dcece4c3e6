// Package netfault is a TCP proxy that injects network faults between
// cluster nodes in tests: it forwards connections to a target and can cut
// them (drop every connection and refuse new ones, as a partition does) or
// stall them (hold bytes without closing, as a paused or overloaded peer
// does), then heal.
//
// A standalone proxy (Listen) applies its mode to every connection. The
// proxies of a Network stand one in front of each listener of each node
// and fault the links between nodes: they tell which node dialled a
// connection from its first bytes (Sender), so cutting the link between
// nodes a and b drops what a dials to b and what b dials to a, while
// connections from anyone else, a test's own clients say, pass.
//
// Concurrency contract: proxies and networks are safe for concurrent use.
// A Proxy owns its listener and the goroutines of each forwarded
// connection, and Close waits for all of them; the modes of a network's
// proxies and links are guarded by the network's one mutex.
package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy or a link does with traffic.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Cut closes every forwarded connection and refuses new ones.
	Cut
	// Stall keeps connections open but forwards nothing until healed.
	Stall
)

// worse is the mode of traffic subject to both a and b.
func worse(a, b Mode) Mode {
	if a == Cut || b == Cut {
		return Cut
	}
	if a == Stall || b == Stall {
		return Stall
	}
	return Pass
}

// Proxy forwards connections accepted on its address to a target address.
type Proxy struct {
	nw       *Network
	node     int32 // the node behind the proxy; Unknown when standalone
	identify bool  // read each dialler's id (Sender) before forwarding
	ln       net.Listener
	target   string
	wg       sync.WaitGroup

	// Guarded by nw.mu.
	mode   Mode
	closed bool
}

// Listen starts a standalone proxy on a free loopback port forwarding to
// target.
func Listen(target string) (*Proxy, error) {
	return listen(NewNetwork(), Unknown, false, target)
}

func listen(nw *Network, node int32, identify bool, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{nw: nw, node: node, identify: identify, ln: ln, target: target}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is where to connect to reach the target through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode of the proxy, whoever dialled. Cut closes the open
// connections at once.
func (p *Proxy) Set(m Mode) {
	p.nw.change(func() { p.mode = m })
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() error {
	p.nw.change(func() { p.closed = true })
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
		f := &flow{p: p, from: Unknown}
		if !p.nw.attach(f, c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.forward(f, c) })
	}
}

func (p *Proxy) forward(f *flow, client net.Conn) {
	defer p.nw.drop(f)
	var first []byte
	if p.identify {
		var ok bool
		if first, ok = p.readSender(f, client); !ok {
			return
		}
	}
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.nw.attach(f, server) {
		server.Close()
		return
	}
	if len(first) > 0 {
		if !p.nw.waitPass(f) {
			return
		}
		if _, err := server.Write(first); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(f, server, client); done <- struct{}{} }()
	go func() { p.pipe(f, client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// readSender reads the dialler's first bytes until they name its node,
// and returns them to be forwarded; false means the connection ended or
// its link is cut.
func (p *Proxy) readSender(f *flow, c net.Conn) ([]byte, bool) {
	buf := make([]byte, 0, 4<<10)
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		id, complete := Sender(buf)
		if complete || len(buf) >= maxPeek {
			return buf, p.nw.setSender(f, id)
		}
		if err != nil {
			return nil, false
		}
	}
}

// pipe copies from src to dst, waiting while the flow is stalled.
func (p *Proxy) pipe(f *flow, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.nw.waitPass(f) {
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
