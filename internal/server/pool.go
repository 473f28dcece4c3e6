package server

import (
	"context"
	"sync"
)

// pool is a byte budget shared by every connection of a Server, for the
// decoded form of requests (a second queued.max.request.bytes; frames
// have framePool): acquire blocks until the bytes are free. Waiters are served in FIFO order, so a large request is
// not starved by a stream of small ones.
type pool struct {
	size int64

	mu struct {
		sync.Mutex
		used    int64
		waiters []*poolWaiter
	}
}

type poolWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newPool(size int64) *pool { return &pool{size: size} }

// acquire takes n bytes (at most the pool's size), waiting until they are
// free or ctx ends.
func (p *pool) acquire(ctx context.Context, n int64) error {
	p.mu.Lock()
	if len(p.mu.waiters) == 0 && p.mu.used+n <= p.size {
		p.mu.used += n
		p.mu.Unlock()
		return nil
	}
	w := &poolWaiter{n: n, ready: make(chan struct{})}
	p.mu.waiters = append(p.mu.waiters, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-w.ready: // granted while we gave up: hand the bytes back
		p.mu.used -= n
		p.grantLocked()
	default:
		for i, o := range p.mu.waiters {
			if o == w {
				p.mu.waiters = append(p.mu.waiters[:i], p.mu.waiters[i+1:]...)
				break
			}
		}
		p.grantLocked() // the head may have changed
	}
	return ctx.Err()
}

// release returns n bytes.
func (p *pool) release(n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.mu.used -= n
	if p.mu.used < 0 {
		panic("server: memory pool released more than acquired")
	}
	p.grantLocked()
	p.mu.Unlock()
}

func (p *pool) grantLocked() {
	for len(p.mu.waiters) > 0 {
		w := p.mu.waiters[0]
		if p.mu.used+w.n > p.size {
			return
		}
		p.mu.used += w.n
		close(w.ready)
		p.mu.waiters = p.mu.waiters[1:]
	}
}

// inUse reports the bytes held.
func (p *pool) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.used
}
