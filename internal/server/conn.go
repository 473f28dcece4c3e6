package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

const (
	// pipelineDepth bounds how many read-ahead requests one connection may
	// queue while an earlier one is being handled.
	pipelineDepth = 8
	// firstReadBytes is how much of a frame is allocated (and reserved in
	// the pool) before its bytes arrive; the buffer doubles as they do, so
	// a size prefix alone never costs its declared size.
	firstReadBytes   = 16 << 10
	readBufferBytes  = 16 << 10
	writeBufferBytes = 32 << 10
)

// conn is one client connection.
type conn struct {
	s    *Server
	c    net.Conn // the TLS layer on a TLS listener
	raw  net.Conn // the socket
	host string   // peer IP, without the port
	// principal is who the requests come from: "" (anonymous) until a
	// client certificate or SASL names someone.
	principal string
	sasl      *saslConn // nil when the listener has no SASL
	log       *slog.Logger
	w         *bufio.Writer
	// hangup closes when the client stops sending (EOF or a bad frame).
	hangup chan struct{}
	// inflight counts frames read and not yet answered: a connection
	// waiting on its own requests is not idle.
	inflight atomic.Int32
}

// request is a frame read off the wire with the pool bytes it holds.
type request struct {
	frame []byte
	claim *claim    // its bytes of s.frames
	read  time.Time // when its last byte was read
}

func newConn(s *Server, raw net.Conn, host string) *conn {
	c := &conn{s: s, c: raw, raw: raw, host: host, log: s.log.With("remote", raw.RemoteAddr().String()), hangup: make(chan struct{})}
	if s.tls != nil {
		c.c = tls.Server(raw, s.tls.serverConfig())
	}
	if s.cfg.SASL != nil {
		c.sasl = &saslConn{}
	}
	c.w = bufio.NewWriterSize(c.c, writeBufferBytes)
	return c
}

func (c *conn) remote() string { return c.raw.RemoteAddr().String() }

// serve runs the connection until it fails or the server closes: once TLS
// and SASL (if any) have admitted the client, a reader goroutine fills
// frames and this goroutine handles them in order.
func (c *conn) serve() {
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	r := bufio.NewReaderSize(c.c, readBufferBytes)
	if err := c.admit(ctx, r); err != nil {
		c.raw.Close()
		return
	}
	frames := make(chan request, pipelineDepth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		// A client that hangs up ends the waits it left in flight, such as
		// a long-polling fetch; requests it sent are still carried out,
		// as an acks=0 producer that closes at once expects.
		defer close(c.hangup)
		c.readFrames(ctx, r, frames)
	}()
	for req := range frames {
		err := c.handle(ctx, req)
		c.s.frames.release(req.claim)
		c.inflight.Add(-1)
		if err != nil {
			if !errors.Is(err, errSASLClosed) && !errors.Is(err, errSessionExpired) {
				c.s.rl.info("conn_closed", "closing kafka connection", "remote", c.remote(), "err", err)
			}
			break
		}
	}
	cancel()
	c.c.Close()
	for req := range frames {
		c.s.frames.release(req.claim)
	}
	<-done
}

// admit runs the TLS handshake and the first SASL exchange, whichever the
// listener has.
func (c *conn) admit(ctx context.Context, r *bufio.Reader) error {
	if tc, ok := c.c.(*tls.Conn); ok {
		if err := c.handshake(ctx, tc); err != nil {
			return err
		}
	}
	if c.sasl != nil {
		return c.authenticate(ctx, r)
	}
	return nil
}

func (c *conn) readFrames(ctx context.Context, r *bufio.Reader, frames chan<- request) {
	for first := c.sasl == nil; ; first = false {
		n, ft, err := c.readSize(r)
		if err != nil {
			c.readFailed(ctx, err)
			return
		}
		if n < 8 || n > c.s.cfg.MaxRequestBytes {
			c.badFrameSize(n, c.s.cfg.MaxRequestBytes, first)
			return
		}
		cl := c.s.frames.open(int64(n))
		c.inflight.Add(1)
		frame, err := c.readBody(ctx, r, cl, ft)
		if err != nil {
			c.s.frames.release(cl)
			c.inflight.Add(-1)
			if ctx.Err() == nil {
				c.s.rl.info("partial_frame", "kafka connection closed mid-frame", "remote", c.c.RemoteAddr().String(), "size", n, "err", err)
			}
			return
		}
		c.s.frames.finish(cl)
		select {
		case frames <- request{frame: frame, claim: cl, read: time.Now()}:
		case <-ctx.Done():
			c.s.frames.release(cl)
			return
		}
	}
}

// badFrameSize logs a frame size out of bounds, which closes the
// connection. As the first bytes of a connection it may be a TLS handshake
// sent to this plaintext listener: the log says so.
func (c *conn) badFrameSize(n, limit int32, first bool) {
	if first && c.s.tls == nil && looksLikeTLS(n) {
		c.s.rl.warn("tls_mismatch", "closing kafka connection: client is speaking TLS to this plaintext listener (configured for SSL?)", "remote", c.remote())
		return
	}
	c.s.rl.warn("bad_frame", "closing kafka connection: bad frame size", "remote", c.remote(), "size", n, "max", limit)
}

func (c *conn) readFailed(ctx context.Context, err error) {
	switch {
	case errors.Is(err, io.EOF) || ctx.Err() != nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.s.rl.info("idle", "closing idle kafka connection", "remote", c.c.RemoteAddr().String(), "err", err)
	default:
		c.log.Debug("kafka connection read failed", "err", err)
	}
}

// readSize waits for the next frame's size. Waiting for its first byte is
// idle time (connections.max.idle.ms, not counted while a request of this
// connection is in flight); once it has come, the frame is timed by the
// returned frameTimer.
func (c *conn) readSize(r *bufio.Reader) (int32, *frameTimer, error) {
	for {
		c.setReadDeadline(c.s.cfg.IdleTimeout)
		_, err := r.Peek(1)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && c.inflight.Load() > 0 {
			continue
		}
		return 0, nil, err
	}
	ft := &frameTimer{}
	if d := c.s.cfg.ReadTimeout; d > 0 {
		ft.end = time.Now().Add(d)
	}
	var size [4]byte
	for got := 0; got < len(size); {
		m, err := c.read(r, size[got:], ft)
		got += m
		if err != nil && got < len(size) {
			return 0, nil, fmt.Errorf("reading frame size: %w", err)
		}
	}
	return int32(binary.BigEndian.Uint32(size[:])), ft, nil
}

func (c *conn) setReadDeadline(d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	c.c.SetReadDeadline(t)
}

// frameTimer bounds the reads of one frame: all of it within ReadTimeout
// of its first byte, not counting waits for room in the pool (not the
// client's fault), and no gap between bytes longer than IdleTimeout, as
// Kafka closes a connection on which nothing moved for
// connections.max.idle.ms whatever the state of its frame.
type frameTimer struct {
	end time.Time // zero: no bound on the whole frame
}

// read reads into p under ft's deadlines.
func (c *conn) read(r io.Reader, p []byte, ft *frameTimer) (int, error) {
	t := ft.end
	if d := c.s.cfg.IdleTimeout; d > 0 {
		if idle := time.Now().Add(d); t.IsZero() || idle.Before(t) {
			t = idle
		}
	}
	c.c.SetReadDeadline(t)
	return r.Read(p)
}

// reserve grows cl by n bytes, moving ft's end by the time waited.
func (c *conn) reserve(ctx context.Context, cl *claim, n int64, ft *frameTimer) error {
	start := time.Now()
	err := c.s.frames.grow(ctx, cl, n)
	if !ft.end.IsZero() {
		ft.end = ft.end.Add(time.Since(start))
	}
	return err
}

// readBody reads cl's frame body into a buffer that starts small and
// doubles as the bytes arrive, each growth reserved in the pool first: a
// connection holds about twice what it received at most, whatever size
// it declared.
func (c *conn) readBody(ctx context.Context, r io.Reader, cl *claim, ft *frameTimer) ([]byte, error) {
	n := int(cl.size)
	var buf []byte
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := min(n, max(firstReadBytes, 2*cap(buf)))
			if err := c.reserve(ctx, cl, int64(next-cap(buf)), ft); err != nil {
				return nil, fmt.Errorf("waiting for request memory: %w", err)
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		m, err := c.read(r, buf[len(buf):cap(buf)], ft)
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// handle decodes and answers one frame. An error closes the connection.
func (c *conn) handle(ctx context.Context, req request) error {
	h, err := parseHeader(req.frame)
	if err != nil {
		return err
	}
	h.read = req.read
	return c.handleParsed(ctx, h)
}

func (c *conn) handleParsed(ctx context.Context, h header) error {
	intercept := false
	if c.sasl != nil {
		var err error
		if intercept, err = c.saslGate(h); err != nil {
			return err
		}
	}
	if !broker.Supported(h.key, h.version) {
		return c.unsupported(h)
	}
	am := c.s.metrics.api(h.key)
	am.count(c.s.metrics, h.key, h.version)
	charge, err := c.decode(ctx, h)
	defer c.s.decoded.release(charge)
	if err != nil {
		return err
	}
	if intercept {
		start := time.Now()
		if err := c.handleSASL(ctx, h); err != nil {
			return err
		}
		now := time.Now()
		am.observe(h.read, start, now, now, 0, true)
		return nil
	}
	start := time.Now()
	resp, err := c.dispatch(ctx, h)
	if err != nil {
		return fmt.Errorf("handling %s: %w", kmsg.NameForKey(h.key), err)
	}
	handled := time.Now()
	if resp == nil {
		c.answered(h, am, start, handled, handled, nil)
		return nil
	}
	defer resp.Release()
	if err := c.write(h, resp); err != nil {
		return err
	}
	c.answered(h, am, start, handled, time.Now(), resp)
	return nil
}

// answered records a request handled from start to handled and answered
// (resp, nil for no answer) by written: its metrics and, if on for its
// API, its request log line.
func (c *conn) answered(h header, am *apiMetrics, start, handled, written time.Time, resp *broker.Response) {
	var wait time.Duration
	if resp != nil {
		wait = resp.Wait
	}
	am.observe(h.read, start, handled, written, wait, resp != nil)
	if c.s.broker.LogsRequest(h.key) {
		c.logRequest(h, written.Sub(h.read), resp)
	}
}

// decode reads the body into h.req. Decoding can take many times the
// frame's size (one byte of array can become a whole struct), so the body
// is first walked on the wire to learn what decoding it allocates, and
// exactly that is reserved before decoding; the returned charge is
// released once the request is answered. A request over Kafka's limits,
// or whose decoded form could never fit in the pool, is refused.
func (c *conn) decode(ctx context.Context, h header) (int64, error) {
	name := kmsg.NameForKey(h.key)
	size, err := scanDecodedSize(h.key, h.version, h.body)
	if err == nil && size > c.s.decoded.size {
		err = fmt.Errorf("%w: %d bytes, the pool holds %d", errDecodedTooLarge, size, c.s.decoded.size)
	}
	if err != nil {
		return 0, fmt.Errorf("refusing %s v%d request: %w", name, h.version, err)
	}
	if err := c.s.decoded.acquire(ctx, size); err != nil {
		return 0, err
	}
	if err := h.req.ReadFrom(h.body); err != nil {
		return size, fmt.Errorf("malformed %s v%d request: %w", name, h.version, err)
	}
	return size, nil
}

// dispatch calls the broker, turning a handler panic into an error for this
// connection alone: one bad request must not take the node down with it.
func (c *conn) dispatch(ctx context.Context, h header) (resp *broker.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panicked", "api_key", h.key, "api_version", h.version, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return c.s.broker.Handle(ctx, &broker.Request{ClientID: h.clientID, ClientHost: c.host, CorrelationID: h.correlationID, Msg: h.req, Hangup: c.hangup, Principal: c.principal})
}

// unsupported answers a version we do not serve. ApiVersions gets the v0
// answer with UNSUPPORTED_VERSION and our ranges (KIP-511), so the client
// can retry at a version we know; other APIs get UNSUPPORTED_VERSION where
// their answer has a top-level error code, else the connection closes, as
// Kafka does.
func (c *conn) unsupported(h header) error {
	c.s.rl.info("unsupported_version", "unsupported api version requested", "remote", c.c.RemoteAddr().String(), "api_key", h.key, "api_version", h.version, "client_id", h.clientID)
	if h.key == kmsg.ApiVersions.Int16() {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = broker.APIVersionKeys()
		h.version = 0
		return c.write(h, &broker.Response{Msg: resp})
	}
	if h.version > h.req.MaxVersion() {
		return fmt.Errorf("%s v%d is newer than this broker knows", kmsg.NameForKey(h.key), h.version)
	}
	resp := h.req.ResponseKind()
	if !setTopLevelError(resp, kerr.UnsupportedVersion.Code) {
		return fmt.Errorf("%s v%d is not served", kmsg.NameForKey(h.key), h.version)
	}
	return c.write(h, &broker.Response{Msg: resp})
}

func (c *conn) write(h header, resp *broker.Response) error {
	resp.Msg.SetVersion(h.version)
	buf := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(buf[4:], uint32(h.correlationID))
	// ApiVersions answers always use response header v0 so that a client
	// that does not yet know our versions can read them.
	if resp.Msg.IsFlexible() && h.key != kmsg.ApiVersions.Int16() {
		buf = append(buf, 0)
	}
	buf = resp.Msg.AppendTo(buf)
	parts, err := splice(buf, resp.Splices, resp.Msg.IsFlexible())
	if err != nil {
		return err
	}
	return c.writeParts(parts)
}
