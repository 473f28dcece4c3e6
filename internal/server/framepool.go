package server

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

// framePool is the budget for request frames (queued.max.request.bytes).
// A frame holds only what its buffer has grown to, so a size prefix alone
// costs little and idle senders cannot starve others. Frames that grow
// while others hold part of the pool could deadlock, each waiting for the
// others' bytes; growth is therefore granted as the banker's algorithm
// does: only if every frame being read could still complete in some order
// (complete frames count as free: they are answered without reading more).
// A frame that may not grow yet waits, without holding up others that may.
type framePool struct {
	size     int64
	maxFrame int64 // socket.request.max.bytes: no frame needs more

	mu struct {
		sync.Mutex
		used    int64
		done    int64 // held by complete frames
		reading map[*claim]struct{}
		waiters []*claim
	}
}

// claim is one frame's hold on a framePool.
type claim struct {
	size     int64 // the frame's declared size
	held     int64
	complete bool
	want     int64         // while waiting: the bytes asked for
	ready    chan struct{} // while waiting: closed once they are granted
}

func newFramePool(size, maxFrame int64) *framePool {
	p := &framePool{size: size, maxFrame: maxFrame}
	p.mu.reading = map[*claim]struct{}{}
	return p
}

// open registers a frame of size bytes, holding none yet.
func (p *framePool) open(size int64) *claim {
	c := &claim{size: size}
	p.mu.Lock()
	p.mu.reading[c] = struct{}{}
	p.mu.Unlock()
	return c
}

// grow adds n bytes to c's hold (never past its size), waiting until that
// is safe or ctx ends. The caller releases c either way.
func (p *framePool) grow(ctx context.Context, c *claim, n int64) error {
	p.mu.Lock()
	if p.safeLocked(c, n) {
		p.grantLocked(c, n)
		p.mu.Unlock()
		return nil
	}
	c.want, c.ready = n, make(chan struct{})
	p.mu.waiters = append(p.mu.waiters, c)
	p.mu.Unlock()
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.mu.waiters, c); i >= 0 {
		p.mu.waiters = slices.Delete(p.mu.waiters, i, i+1)
	}
	return ctx.Err()
}

// finish marks c's frame complete: all of it is held and read.
func (p *framePool) finish(c *claim) {
	p.mu.Lock()
	delete(p.mu.reading, c)
	c.complete = true
	p.mu.done += c.held
	p.mu.Unlock()
}

// release returns what c holds and forgets it.
func (p *framePool) release(c *claim) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.used -= c.held
	if c.complete {
		p.mu.done -= c.held
	}
	delete(p.mu.reading, c)
	c.held = 0
	p.wakeLocked()
}

func (p *framePool) grantLocked(c *claim, n int64) {
	p.mu.used += n
	c.held += n
}

// wakeLocked grants every waiter it safely can, oldest first.
func (p *framePool) wakeLocked() {
	for i := 0; i < len(p.mu.waiters); {
		w := p.mu.waiters[i]
		if !p.safeLocked(w, w.want) {
			i++
			continue
		}
		p.grantLocked(w, w.want)
		close(w.ready)
		p.mu.waiters = slices.Delete(p.mu.waiters, i, i+1)
	}
}

// safeLocked reports whether c may hold n more bytes: they are free, and
// afterwards the frames being read can still complete one after another,
// each releasing its bytes to the next.
func (p *framePool) safeLocked(c *claim, n int64) bool {
	used := p.mu.used + n
	if used > p.size {
		return false
	}
	avail := p.size - used + p.mu.done
	if avail >= p.maxFrame { // enough for any frame: no need to look
		return true
	}
	type hold struct{ need, held int64 }
	holds := make([]hold, 0, len(p.mu.reading))
	for o := range p.mu.reading {
		h := hold{need: o.size - o.held, held: o.held}
		if o == c {
			h.need, h.held = h.need-n, h.held+n
		}
		holds = append(holds, h)
	}
	slices.SortFunc(holds, func(a, b hold) int { return cmp.Compare(a.need, b.need) })
	for _, h := range holds {
		if h.need > avail {
			return false
		}
		avail += h.held
	}
	return true
}

// inUse reports the bytes held.
func (p *framePool) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.used
}
