package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFramePoolAvoidsDeadlock grows two large frames in a pool that cannot
// hold both: the growth that would leave neither able to complete waits,
// while growth that leaves every frame completable (a small frame, the
// first large one) is granted past it.
func TestFramePoolAvoidsDeadlock(t *testing.T) {
	p := newFramePool(100, 60)
	ctx := context.Background()
	a, b := p.open(60), p.open(60)
	mustGrow(t, p, a, 50)
	// 45 bytes are free, but granting them to b leaves 5: neither a (10
	// to go) nor b (15) could finish.
	bGrown := make(chan error, 1)
	go func() { bGrown <- p.grow(ctx, b, 45) }()
	poll(t, "b to wait", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.mu.waiters) == 1 })
	small := p.open(5)
	mustGrow(t, p, small, 5)
	mustGrow(t, p, a, 10)
	p.finish(a)
	p.release(small)
	p.release(a)
	if err := <-bGrown; err != nil {
		t.Fatal(err)
	}
	mustGrow(t, p, b, 15)
	p.finish(b)
	p.release(b)
	// A cancelled wait gives up its place.
	c, d := p.open(60), p.open(60)
	mustGrow(t, p, c, 50)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.grow(cctx, d, 45); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled grow: %v", err)
	}
	p.release(d)
	p.release(c)
	if p.inUse() != 0 || len(p.mu.waiters) != 0 || len(p.mu.reading) != 0 {
		t.Fatalf("%d bytes, %d waiters, %d frames left", p.inUse(), len(p.mu.waiters), len(p.mu.reading))
	}
}

func mustGrow(t *testing.T, p *framePool, c *claim, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.grow(ctx, c, n); err != nil {
		t.Fatalf("growing by %d: %v", n, err)
	}
}

// startServer serves cfg on a loopback listener, without a broker: only
// requests answered by the server itself (an ApiVersions version it does
// not know) can be sent.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// unknownAPIVersions is a size-prefixed ApiVersions v99 frame, with a
// client id of pad bytes: the server answers it with UNSUPPORTED_VERSION.
func unknownAPIVersions(pad int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(10+pad))
	b = binary.BigEndian.AppendUint16(b, uint16(kmsg.ApiVersions.Int16()))
	b = binary.BigEndian.AppendUint16(b, 99)
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, uint16(pad))
	return append(b, make([]byte, pad)...)
}

// answered reports whether c gets an answer to its ApiVersions.
func answered(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("no answer: %v", err)
	}
}

func dialServer(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIdleSendersDoNotStarveThePool has connections declare frames as
// large as the whole pool and send one byte: they hold only what arrived,
// so another connection's request is still read and answered (it used to
// wait for the pool until their read timeout, here none).
func TestIdleSendersDoNotStarveThePool(t *testing.T) {
	s, addr := startServer(t, testConfig(slog.New(slog.DiscardHandler)))
	for range 4 {
		c := dialServer(t, addr)
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, 1<<20), 0)); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "the declared frames to be read", func() bool { frames, _ := s.MemoryInUse(); return frames > 0 })
	c := dialServer(t, addr)
	if _, err := c.Write(unknownAPIVersions(0)); err != nil {
		t.Fatal(err)
	}
	answered(t, c)
}

// TestSilenceMidFrameClosesTheConnection sends half a frame and stops:
// connections.max.idle.ms closes the connection though its frame has no
// read timeout, while a frame whose bytes keep coming, each within the
// idle timeout, is answered though it takes longer than that in all.
func TestSilenceMidFrameClosesTheConnection(t *testing.T) {
	cfg := testConfig(slog.New(slog.DiscardHandler))
	cfg.IdleTimeout = time.Second
	_, addr := startServer(t, cfg)
	silent := dialServer(t, addr)
	frame := unknownAPIVersions(0)
	if _, err := silent.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent mid-frame: want the connection closed, got %v", err)
	}
	slow := dialServer(t, addr)
	start := time.Now()
	for i, b := range unknownAPIVersions(30) {
		if _, err := slow.Write([]byte{b}); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		time.Sleep(cfg.IdleTimeout / 20)
	}
	if time.Since(start) < cfg.IdleTimeout {
		t.Fatalf("the frame took %v, no longer than the idle timeout: the test proves nothing", time.Since(start))
	}
	answered(t, slow)
}

// TestLargeFramesTogetherComplete sends three frames of 70% of the pool at
// once: reserving as their bytes arrive, each could hold a third of the
// pool and wait for the others' bytes forever; all must be answered.
func TestLargeFramesTogetherComplete(t *testing.T) {
	_, addr := startServer(t, testConfig(slog.New(slog.DiscardHandler)))
	frame := unknownAPIVersions(700 << 10)
	conns := make([]net.Conn, 3)
	errs := make(chan error, len(conns))
	for i := range conns {
		conns[i] = dialServer(t, addr)
		go func() {
			_, err := conns[i].Write(frame)
			errs <- err
		}()
	}
	for _, c := range conns {
		answered(t, c)
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
