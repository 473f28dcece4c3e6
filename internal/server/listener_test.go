package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testConfig(log *slog.Logger) Config {
	return Config{Logger: log, MaxRequestBytes: 1 << 20, MaxQueuedBytes: 1 << 20}
}

// failingListener fails Accept with EMFILE while fail is set, as a process
// out of file descriptors does.
type failingListener struct {
	net.Listener
	mu   sync.Mutex
	fail bool
}

func (l *failingListener) setFail(v bool) {
	l.mu.Lock()
	l.fail = v
	l.mu.Unlock()
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.fail
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestServeRetriesAcceptErrors checks that Serve keeps going through
// accept errors, that Health reports them while they last, and that it is
// ErrNotServing before Serve and after it returns.
func TestServeRetriesAcceptErrors(t *testing.T) {
	s, err := New(testConfig(slog.New(slog.DiscardHandler)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Health(); !errors.Is(err, ErrNotServing) {
		t.Fatalf("health before Serve: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln, fail: true}
	served := make(chan error, 1)
	go func() { served <- s.Serve(fl) }()
	poll(t, "health to report accept errors", func() bool { return errors.Is(s.Health(), syscall.EMFILE) })
	fl.setFail(false)
	poll(t, "health to recover", func() bool { return s.Health() == nil })
	select {
	case err := <-served:
		t.Fatalf("Serve returned during accept errors: %v", err)
	default:
	}
	s.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if err := s.Health(); !errors.Is(err, ErrNotServing) {
		t.Fatalf("health after Serve returned: %v", err)
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRateLogBoundsAFlood logs 10,000 lines of one kind and expects the
// burst, then one line counting those dropped once the interval passes.
func TestRateLogBoundsAFlood(t *testing.T) {
	var buf bytes.Buffer
	rl := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 10_000 {
		rl.warn("bad_frame", "bad frame")
	}
	rl.warn("other", "another kind has its own budget")
	if got := bytes.Count(buf.Bytes(), []byte("\n")); got != rateLogBurst+1 {
		t.Fatalf("%d lines for a flood of 10,000, want %d:\n%s", got, rateLogBurst+1, buf.String())
	}
	if suppressed, ok := rl.allow("bad_frame", time.Now().Add(rateLogInterval)); !ok || suppressed != 10_000-rateLogBurst {
		t.Fatalf("after the interval: allowed %v, suppressed %d", ok, suppressed)
	}
}

func TestPoolWaitsInOrder(t *testing.T) {
	p := newPool(10)
	ctx := context.Background()
	if err := p.acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	big, small := make(chan struct{}), make(chan struct{})
	go func() { p.acquire(ctx, 10); close(big) }()
	poll(t, "the big waiter to queue", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.mu.waiters) == 1 })
	go func() { p.acquire(ctx, 1); close(small) }()
	poll(t, "the small waiter to queue", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.mu.waiters) == 2 })
	// 2 bytes are free, but the small request queues behind the big one.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.acquire(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	p.release(8)
	<-big
	p.release(10)
	<-small
	p.release(1)
	if p.inUse() != 0 {
		t.Fatalf("%d bytes still in use", p.inUse())
	}
}

func TestParseIPOverrides(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]int
		err  bool
	}{
		{in: "", want: map[string]int{}},
		{in: "127.0.0.1:5, 10.0.0.1:0", want: map[string]int{"127.0.0.1": 5, "10.0.0.1": 0}},
		{in: "[::1]:3,::2:4", want: map[string]int{"::1": 3, "::2": 4}},
		{in: "host", err: true},
		{in: "host:-1", err: true},
		{in: "host:x", err: true},
	} {
		got, err := ParseIPOverrides(tc.in)
		if (err != nil) != tc.err || !tc.err && !equalMaps(got, tc.want) {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
