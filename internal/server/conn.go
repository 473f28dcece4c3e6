package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// pipelineDepth bounds how many read-ahead requests one connection may
// queue while an earlier one is being handled.
const pipelineDepth = 8

// conn is one client connection.
type conn struct {
	s    *Server
	c    net.Conn
	host string // peer IP, without the port
	log  *slog.Logger
	w    *bufio.Writer
	// hangup closes when the client stops sending (EOF or a bad frame).
	hangup chan struct{}
}

func newConn(s *Server, c net.Conn) *conn {
	remote := c.RemoteAddr().String()
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return &conn{s: s, c: c, host: host, log: s.log.With("remote", remote), w: bufio.NewWriterSize(c, 64<<10), hangup: make(chan struct{})}
}

// serve runs the connection until it fails or the server closes: a reader
// goroutine fills frames, this goroutine handles them in order.
func (c *conn) serve() {
	frames := make(chan []byte, pipelineDepth)
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		// A client that hangs up ends the waits it left in flight, such as
		// a long-polling fetch; requests it sent are still carried out,
		// as an acks=0 producer that closes at once expects.
		defer close(c.hangup)
		c.readFrames(ctx, frames)
	}()
	for frame := range frames {
		if err := c.handle(ctx, frame); err != nil {
			c.log.Info("closing kafka connection", "err", err)
			break
		}
	}
	cancel()
	c.c.Close()
	for range frames {
	}
	<-done
}

func (c *conn) readFrames(ctx context.Context, frames chan<- []byte) {
	r := bufio.NewReaderSize(c.c, 64<<10)
	var size [4]byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				c.log.Debug("kafka connection read failed", "err", err)
			}
			return
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 8 || n > c.s.cfg.MaxRequestBytes {
			c.log.Warn("closing kafka connection: bad frame size", "size", n, "max", c.s.cfg.MaxRequestBytes)
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil {
			c.log.Info("kafka connection closed mid-frame", "err", err)
			return
		}
		select {
		case frames <- frame:
		case <-ctx.Done():
			return
		}
	}
}

// handle decodes and answers one frame. An error closes the connection.
func (c *conn) handle(ctx context.Context, frame []byte) error {
	h, err := parseHeader(frame)
	if err != nil {
		return err
	}
	log := c.log.With("api_key", h.key, "api_version", h.version, "client_id", h.clientID)
	if !broker.Supported(h.key, h.version) {
		return c.unsupported(h, log)
	}
	if err := h.req.ReadFrom(h.body); err != nil {
		return fmt.Errorf("malformed %s v%d request: %w", kmsg.NameForKey(h.key), h.version, err)
	}
	resp, err := c.dispatch(ctx, h)
	if err != nil {
		return fmt.Errorf("handling %s: %w", kmsg.NameForKey(h.key), err)
	}
	if resp == nil {
		return nil
	}
	defer resp.Release()
	return c.write(h, resp)
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
	return c.s.broker.Handle(ctx, &broker.Request{ClientID: h.clientID, ClientHost: c.host, CorrelationID: h.correlationID, Msg: h.req, Hangup: c.hangup})
}

// unsupported answers a version we do not serve. ApiVersions gets the v0
// answer with UNSUPPORTED_VERSION and our ranges (KIP-511), so the client
// can retry at a version we know; other APIs get UNSUPPORTED_VERSION where
// their answer has a top-level error code, else the connection closes, as
// Kafka does.
func (c *conn) unsupported(h header, log *slog.Logger) error {
	log.Info("unsupported api version requested")
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
