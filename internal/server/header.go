package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

var errShortHeader = errors.New("server: request header truncated")

// header is a decoded request header plus the kmsg request its key names,
// with the version set and the body still to decode.
type header struct {
	key, version  int16
	correlationID int32
	clientID      string
	req           kmsg.Request
	body          []byte
	// read is when the frame had been read, which the request's latency
	// counts from; set by the caller of parseHeader.
	read time.Time
}

// parseHeader decodes request header v1 (or v2, with tagged fields, for
// flexible versions). An unknown API key is an error: its body cannot be
// read, so the connection closes.
func parseHeader(frame []byte) (header, error) {
	var h header
	if len(frame) < 10 {
		return h, errShortHeader
	}
	h.key = int16(binary.BigEndian.Uint16(frame))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	h.req = kmsg.RequestForKey(h.key)
	if h.req == nil {
		return h, fmt.Errorf("server: unknown api key %d", h.key)
	}
	if h.version < 0 {
		return h, fmt.Errorf("server: negative api version %d", h.version)
	}
	h.req.SetVersion(h.version)
	if h.key == kmsg.ApiVersions.Int16() && !broker.Supported(h.key, h.version) {
		// A newer ApiVersions than we know may carry header fields we
		// cannot read; it is answered from the fixed part alone.
		return h, nil
	}
	rest := frame[8:]
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n > 0 {
		if int(n) > len(rest) {
			return h, errShortHeader
		}
		h.clientID, rest = string(rest[:n]), rest[n:]
	}
	if h.req.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return h, err
		}
	}
	h.body = rest
	return h, nil
}

// skipTags skips a tagged-field section: a count, then per field a tag, a
// size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	count, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	for ; count > 0; count-- {
		if _, b, err = uvarint(b); err != nil {
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, errShortHeader
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<31 {
		return 0, nil, errShortHeader
	}
	return v, b[n:], nil
}
