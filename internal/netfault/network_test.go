package netfault

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// copyServer sends back whatever it receives.
func copyServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// peer is a connection through a network's proxy, dialled as a node.
type peer struct {
	net.Conn
	name string
}

// dialAs connects to addr as node from (Unknown: as a client), sending
// the first bytes that say so: a quorum hello for even nodes, a Kafka
// request header for odd ones and clients, so both kinds are exercised.
func dialAs(t *testing.T, addr string, from int32) *peer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	first := kafkaRequest(str("test-client"))
	switch {
	case from >= 0 && from%2 == 0:
		first = quorumHello(1, uint64(from)+1)
	case from >= 0:
		first = kafkaRequest(str(fmt.Sprintf("eddy-replica-%d", from)))
	}
	p := &peer{Conn: c, name: fmt.Sprintf("node %d to %s", from, addr)}
	// The proxy forwards these first bytes once it admits the connection;
	// read them back with the first exchange.
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(first))); err != nil {
		return &peer{Conn: c, name: p.name + " (refused)"}
	}
	return p
}

// exchange sends a message and reads it back within wait.
func (p *peer) exchange(wait time.Duration) error {
	p.SetDeadline(time.Now().Add(wait))
	msg := []byte("ping " + p.name)
	if _, err := p.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(p, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("got %q back", got)
	}
	return nil
}

func (p *peer) mustPass(t *testing.T, stage string) {
	t.Helper()
	if err := p.exchange(2 * time.Second); err != nil {
		t.Errorf("%s: %s: %v", stage, p.name, err)
	}
}

func (p *peer) mustFail(t *testing.T, stage string) {
	t.Helper()
	if err := p.exchange(300 * time.Millisecond); err == nil {
		t.Errorf("%s: %s still passes", stage, p.name)
	}
}

// TestNetworkIsolate cuts node 1 off from nodes 2 and 3: what they dial
// to each other and to node 1, and what node 1 dials to them, is closed
// and refused; node 1 reaching itself, clients and the link between 2
// and 3 pass. Healing lets new connections through.
func TestNetworkIsolate(t *testing.T) {
	nw := NewNetwork()
	proxies := map[int32]*Proxy{}
	for _, n := range []int32{1, 2, 3} {
		p, err := nw.Listen(n, copyServer(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		proxies[n] = p
	}
	addr := func(n int32) string { return proxies[n].Addr() }
	cut := []*peer{dialAs(t, addr(1), 2), dialAs(t, addr(1), 3), dialAs(t, addr(2), 1), dialAs(t, addr(3), 1)}
	kept := []*peer{dialAs(t, addr(1), 1), dialAs(t, addr(1), Unknown), dialAs(t, addr(2), 3), dialAs(t, addr(3), 2),
		dialAs(t, addr(2), Unknown)}
	for _, p := range append(cut, kept...) {
		p.mustPass(t, "before the cut")
	}

	nw.Isolate(1, Cut)
	for _, p := range cut {
		p.mustFail(t, "open connection after isolating node 1")
	}
	for _, p := range kept {
		p.mustPass(t, "after isolating node 1")
	}
	for _, p := range []*peer{dialAs(t, addr(1), 2), dialAs(t, addr(2), 1), dialAs(t, addr(3), 1)} {
		p.mustFail(t, "new connection after isolating node 1")
	}
	for _, p := range []*peer{dialAs(t, addr(1), Unknown), dialAs(t, addr(1), 1), dialAs(t, addr(3), 2)} {
		p.mustPass(t, "new connection after isolating node 1")
	}

	nw.HealAll()
	for _, p := range []*peer{dialAs(t, addr(1), 2), dialAs(t, addr(2), 1), dialAs(t, addr(3), 1)} {
		p.mustPass(t, "after healing")
	}
}

// TestNetworkLinkStall holds the bytes of the link between two nodes and
// delivers them on healing, leaving other links alone; then cuts one
// link only.
func TestNetworkLinkStall(t *testing.T) {
	nw := NewNetwork()
	p1, err := nw.Listen(1, copyServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	from2, from3 := dialAs(t, p1.Addr(), 2), dialAs(t, p1.Addr(), 3)

	nw.Link(1, 2, Stall)
	from2.mustFail(t, "stalled link")
	from3.mustPass(t, "other link while 1-2 is stalled")
	nw.Link(2, 1, Pass) // either order names the link
	from2.SetDeadline(time.Now().Add(2 * time.Second))
	held := make([]byte, len("ping "+from2.name))
	if _, err := io.ReadFull(from2, held); err != nil {
		t.Fatalf("the bytes held by the stall did not arrive after healing: %v", err)
	}
	from2.mustPass(t, "healed link")

	nw.Link(1, 3, Cut)
	from3.mustFail(t, "cut link")
	from2.mustPass(t, "other link while 1-3 is cut")
	dialAs(t, p1.Addr(), 3).mustFail(t, "new connection on a cut link")
	nw.Link(1, 3, Pass)
	dialAs(t, p1.Addr(), 3).mustPass(t, "new connection on a healed link")
}

// TestNetworkOneWay cuts what node 2 dials to node 1, not what node 1
// dials to node 2.
func TestNetworkOneWay(t *testing.T) {
	nw := NewNetwork()
	p1, err := nw.Listen(1, copyServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := nw.Listen(2, copyServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	from2, from1 := dialAs(t, p1.Addr(), 2), dialAs(t, p2.Addr(), 1)
	nw.OneWay(2, 1, Cut)
	from2.mustFail(t, "the cut way")
	from1.mustPass(t, "the other way")
	dialAs(t, p1.Addr(), 2).mustFail(t, "a new connection the cut way")
	dialAs(t, p2.Addr(), 1).mustPass(t, "a new connection the other way")
	nw.OneWay(2, 1, Pass)
	dialAs(t, p1.Addr(), 2).mustPass(t, "a new connection the healed way")
}
