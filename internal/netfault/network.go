package netfault

import (
	"net"
	"sync"
)

// Network is a set of proxies, one in front of each listener of each
// node of a cluster, and the modes of the links between those nodes. A
// link's mode applies to the connections one node dials to the other's
// proxies, in both directions of their bytes. The proxies read the first
// bytes of each connection before forwarding it, so they suit protocols
// where the dialler speaks first, as Kafka's and the quorum's do.
type Network struct {
	mu struct {
		sync.Mutex
		links   map[link]Mode // absent: Pass
		nodes   map[int32]struct{}
		flows   map[*flow]struct{}
		changed chan struct{} // closed and replaced at every change of mode
	}
}

// link is the connections node from dials to node to's proxies.
type link struct{ from, to int32 }

// flow is one connection through a proxy.
type flow struct {
	p *Proxy
	// Guarded by Network.mu.
	from  int32      // the dialling node, Unknown until read or if nobody's
	conns []net.Conn // the client's, then the target's once dialled
}

// NewNetwork returns a network with every link passing.
func NewNetwork() *Network {
	nw := &Network{}
	nw.mu.links = map[link]Mode{}
	nw.mu.nodes = map[int32]struct{}{}
	nw.mu.flows = map[*flow]struct{}{}
	nw.mu.changed = make(chan struct{})
	return nw
}

// Listen starts a proxy in front of node's listener at target, on a free
// loopback port.
func (nw *Network) Listen(node int32, target string) (*Proxy, error) {
	nw.mu.Lock()
	nw.mu.nodes[node] = struct{}{}
	nw.mu.Unlock()
	return listen(nw, node, true, target)
}

// Link sets the mode of the links between nodes a and b, both ways. Cut
// closes their open connections at once.
func (nw *Network) Link(a, b int32, m Mode) {
	nw.change(func() { nw.setLocked(a, b, m) })
}

// OneWay sets the mode of the connections node from dials to node to's
// proxies only, leaving those to dials to from alone: an asymmetric
// fault, where each side still hears from the other on some connections.
func (nw *Network) OneWay(from, to int32, m Mode) {
	nw.change(func() { nw.setOneWayLocked(link{from, to}, m) })
}

// Isolate sets the mode of the links between node n and every other node
// with a proxy in the network.
func (nw *Network) Isolate(n int32, m Mode) {
	nw.change(func() {
		for o := range nw.mu.nodes {
			if o != n {
				nw.setLocked(n, o, m)
			}
		}
	})
}

// HealAll lets every link pass again. The proxies' own modes (Set) stay.
func (nw *Network) HealAll() {
	nw.change(func() { clear(nw.mu.links) })
}

func (nw *Network) setLocked(a, b int32, m Mode) {
	nw.setOneWayLocked(link{a, b}, m)
	nw.setOneWayLocked(link{b, a}, m)
}

func (nw *Network) setOneWayLocked(l link, m Mode) {
	if m == Pass {
		delete(nw.mu.links, l)
	} else {
		nw.mu.links[l] = m
	}
}

// change applies a change of modes under the lock, wakes the stalled
// flows to look again, and closes the connections of the flows it cut
// once the lock is released.
func (nw *Network) change(apply func()) {
	nw.mu.Lock()
	apply()
	var cut []net.Conn
	for f := range nw.mu.flows {
		if nw.modeLocked(f) == Cut {
			cut = append(cut, f.conns...)
		}
	}
	close(nw.mu.changed)
	nw.mu.changed = make(chan struct{})
	nw.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// modeLocked is what the proxy and the link do with f's bytes.
func (nw *Network) modeLocked(f *flow) Mode {
	if f.p.closed {
		return Cut
	}
	m := f.p.mode
	if f.from != Unknown && f.from != f.p.node {
		m = worse(m, nw.mu.links[link{f.from, f.p.node}])
	}
	return m
}

// attach adds c to f, and f to the flows, unless f is cut.
func (nw *Network) attach(f *flow, c net.Conn) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.modeLocked(f) == Cut {
		return false
	}
	f.conns = append(f.conns, c)
	nw.mu.flows[f] = struct{}{}
	return true
}

// setSender records who dialled f; false if that link is cut.
func (nw *Network) setSender(f *flow, from int32) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	f.from = from
	return nw.modeLocked(f) != Cut
}

// drop forgets f and closes its connections.
func (nw *Network) drop(f *flow) {
	nw.mu.Lock()
	delete(nw.mu.flows, f)
	conns := f.conns
	nw.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// waitPass blocks while f is stalled; false means cut or closed.
func (nw *Network) waitPass(f *flow) bool {
	for {
		nw.mu.Lock()
		m, changed := nw.modeLocked(f), nw.mu.changed
		nw.mu.Unlock()
		switch m {
		case Pass:
			return true
		case Cut:
			return false
		}
		<-changed
	}
}
