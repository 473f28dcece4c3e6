package replica

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
)

// purgatory holds the produces waiting for the high watermark to pass
// their last offset (acks=all), like Kafka's DelayedProduce purgatory.
type purgatory struct {
	// hw reads the current high watermark; called with mu held, so it must
	// not block.
	hw func() int64

	mu struct {
		sync.Mutex
		waiters waiterHeap
		stopped error // set while the partition is not led: new waits fail with it
	}
}

// waiter is one waiting produce. done receives its outcome exactly once.
type waiter struct {
	offset int64 // released once the high watermark is above it
	index  int   // in the heap; -1 once released
	done   chan error
}

func newPurgatory(hw func() int64) *purgatory {
	return &purgatory{hw: hw}
}

// wait blocks until the high watermark is above offset (nil), ctx ends
// (ctx.Err()), hangup closes, or the partition stops being led here.
func (pg *purgatory) wait(ctx context.Context, hangup <-chan struct{}, offset int64) error {
	w, err := pg.add(offset)
	if w == nil {
		return err
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		err = ctx.Err()
	case <-hangup:
		err = fmt.Errorf("replica: client hung up waiting for offset %d: %w", offset, context.Canceled)
	}
	if !pg.remove(w) {
		return <-w.done // released meanwhile: its outcome wins
	}
	return err
}

// add registers a waiter for offset, or returns nil when none is needed:
// the high watermark, read after taking the lock, is already above it, or
// the partition is stopped (err).
func (pg *purgatory) add(offset int64) (*waiter, error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.mu.stopped != nil {
		return nil, pg.mu.stopped
	}
	if pg.hw() > offset {
		return nil, nil
	}
	w := &waiter{offset: offset, done: make(chan error, 1)}
	heap.Push(&pg.mu.waiters, w)
	return w, nil
}

// remove takes w out, reporting false if it was already released.
func (pg *purgatory) remove(w *waiter) bool {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if w.index < 0 {
		return false
	}
	heap.Remove(&pg.mu.waiters, w.index)
	return true
}

// advance releases every waiter the high watermark has passed.
func (pg *purgatory) advance() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	hw := pg.hw()
	for len(pg.mu.waiters) > 0 && pg.mu.waiters[0].offset < hw {
		heap.Pop(&pg.mu.waiters).(*waiter).done <- nil
	}
}

// stop fails every waiter, and every later wait until start, with err.
func (pg *purgatory) stop(err error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.mu.stopped = err
	for len(pg.mu.waiters) > 0 {
		heap.Pop(&pg.mu.waiters).(*waiter).done <- err
	}
}

// failAll fails every current waiter with err; later waits are accepted.
func (pg *purgatory) failAll(err error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	for len(pg.mu.waiters) > 0 {
		heap.Pop(&pg.mu.waiters).(*waiter).done <- err
	}
}

// start accepts waits again.
func (pg *purgatory) start() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.mu.stopped = nil
}

// waiterHeap orders waiters by offset, lowest first (container/heap).
type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].offset < h[j].offset }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}

func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
