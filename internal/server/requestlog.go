package server

// The request log (eddy.log.requests): one Info line per answered request
// of the APIs it names, after the answer is written. Off by default; the
// broker says per API key whether it is on, so a change of the dynamic
// config takes effect at the next request. The error code is found by
// walking the answer, which is done only for requests being logged.

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// logRequest logs a request answered with resp (nil: no answer, as for
// an acks=0 Produce) latency after its frame was read.
func (c *conn) logRequest(h header, latency time.Duration, resp *broker.Response) {
	var code int16
	if resp != nil {
		code = firstErrorCode(reflect.ValueOf(resp.Msg))
	}
	principal := c.principal
	if principal == "" {
		principal = broker.AnonymousPrincipal
	}
	// c.log carries the remote address.
	c.log.LogAttrs(context.Background(), slog.LevelInfo, "kafka request",
		slog.String("client_id", h.clientID),
		slog.String("principal", principal),
		slog.String("api", kmsg.NameForKey(h.key)),
		slog.Int("api_version", int(h.version)),
		slog.Int("correlation_id", int(h.correlationID)),
		slog.Float64("latency_ms", float64(latency)/float64(time.Millisecond)),
		slog.Int("error_code", int(code)),
		slog.String("error", broker.ErrorName(code)))
}

var int16Type = reflect.TypeFor[int16]()

// firstErrorCode returns the first non-zero ErrorCode field in v, depth
// first in field order (a top-level error before the partitions'), or 0.
func firstErrorCode(v reflect.Value) int16 {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return firstErrorCode(v.Elem())
	case reflect.Struct:
		t := v.Type()
		if f, ok := t.FieldByName("ErrorCode"); ok && f.Type == int16Type && len(f.Index) == 1 {
			if code := int16(v.Field(f.Index[0]).Int()); code != 0 {
				return code
			}
		}
		for i := range v.NumField() {
			if code := firstErrorCode(v.Field(i)); code != 0 {
				return code
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0 // bytes: records, tokens
		}
		for i := range v.Len() {
			if code := firstErrorCode(v.Index(i)); code != 0 {
				return code
			}
		}
	}
	return 0
}
