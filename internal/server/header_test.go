package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AppendRequestHeader appends a request header as clients write it: key,
// version, correlation id, an INT16-length client id (-1 when nil) and,
// for flexible versions, an empty tagged-field section. It is exported for
// the external tests in fuzz_test.go, which cannot see package internals.
func AppendRequestHeader(dst []byte, key, version int16, correlationID int32, clientID *string, flexible bool) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if clientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(*clientID)))
		dst = append(dst, *clientID...)
	}
	if flexible {
		dst = append(dst, 0)
	}
	return dst
}

// DecodeRequest decodes a frame (without its size prefix) as the server
// does before handing it to the broker. Exported for fuzz_test.go.
func DecodeRequest(frame []byte) (kmsg.Request, error) {
	h, err := parseHeader(frame)
	if err != nil {
		return nil, err
	}
	if err := h.req.ReadFrom(h.body); err != nil {
		return nil, err
	}
	return h.req, nil
}

func TestParseHeader(t *testing.T) {
	id := "client-1"
	formatted := func(req kmsg.Request, clientID *string) []byte {
		var opts []kmsg.RequestFormatterOpt
		if clientID != nil {
			opts = append(opts, kmsg.FormatterClientID(*clientID))
		}
		// kmsg's own request encoder, so the header layout is not
		// checked against our own idea of it; drop the size prefix.
		return kmsg.NewRequestFormatter(opts...).AppendRequest(nil, req, 42)[4:]
	}
	withVersion := func(req kmsg.Request, v int16) kmsg.Request { req.SetVersion(v); return req }
	ok := []struct {
		name     string
		req      kmsg.Request
		clientID *string
	}{
		{"metadata v0", withVersion(kmsg.NewPtrMetadataRequest(), 0), &id},
		{"metadata v8 classic", withVersion(kmsg.NewPtrMetadataRequest(), 8), &id},
		{"metadata v9 flexible", withVersion(kmsg.NewPtrMetadataRequest(), 9), &id},
		{"metadata v12 null client id", withVersion(kmsg.NewPtrMetadataRequest(), 12), nil},
		{"api versions v0", withVersion(kmsg.NewPtrApiVersionsRequest(), 0), &id},
		{"api versions v3", withVersion(kmsg.NewPtrApiVersionsRequest(), 3), &id},
		{"fetch v12", withVersion(kmsg.NewPtrFetchRequest(), 12), &id},
		{"produce v3", withVersion(kmsg.NewPtrProduceRequest(), 3), &id},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			frame := formatted(tc.req, tc.clientID)
			h, err := parseHeader(frame)
			if err != nil {
				t.Fatalf("parseHeader: %v", err)
			}
			want := ""
			if tc.clientID != nil {
				want = *tc.clientID
			}
			if h.key != tc.req.Key() || h.version != tc.req.GetVersion() || h.correlationID != 42 || h.clientID != want {
				t.Fatalf("got key %d v%d corr %d client %q", h.key, h.version, h.correlationID, h.clientID)
			}
			if body := tc.req.AppendTo(nil); !bytes.Equal(h.body, body) {
				t.Fatalf("body %x, want %x", h.body, body)
			}
			checkHeader(t, frame, h)
		})
	}

	hdr := func(key, version int16) []byte {
		return AppendRequestHeader(nil, key, version, 7, &id, false)
	}
	bad := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"nine bytes", hdr(3, 0)[:9]},
		{"unknown key", hdr(999, 0)},
		{"negative key", hdr(-1, 0)},
		{"negative version", hdr(3, -1)},
		{"client id longer than frame", append(hdr(3, 0)[:8], 0, 50, 'x')},
		{"flexible without tag section", hdr(3, 9)},
		{"tag count too large", append(hdr(3, 9), 0x80, 0x80, 0x80, 0x80, 0x10)},
		{"tag size past end", append(hdr(3, 9), 1, 0, 5, 'a')},
		{"truncated varint", append(hdr(3, 9), 0x80)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := parseHeader(tc.frame); err == nil {
				t.Fatalf("parseHeader(%x) = %+v, want an error", tc.frame, h)
			}
		})
	}

	t.Run("unknown api versions version skips the rest", func(t *testing.T) {
		h, err := parseHeader(append(hdr(18, 127), 0xff, 0xff, 0xff))
		if err != nil || h.key != 18 || h.version != 127 || h.body != nil {
			t.Fatalf("got %+v, %v; want ApiVersions v127 with no body", h, err)
		}
	})
	t.Run("tags skipped", func(t *testing.T) {
		frame := append(hdr(3, 9)[:10+len(id)], 2, 0, 1, 'a', 5, 0, 'b', 'o', 'd', 'y')
		h, err := parseHeader(frame)
		if err != nil || string(h.body) != "body" {
			t.Fatalf("got %+v, %v; want body %q", h, err, "body")
		}
	})
}

// FuzzParseHeader feeds arbitrary frames to parseHeader: it must never
// panic, and a header it accepts must be consistent with the frame and
// survive re-encoding. The seed corpus in testdata holds real client
// frames (see TestSeedCorpus in fuzz_test.go).
func FuzzParseHeader(f *testing.F) {
	id := "seed"
	f.Add(AppendRequestHeader(nil, 18, 0, 1, &id, false))
	f.Add(AppendRequestHeader(nil, 3, 12, 1, nil, true))
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := parseHeader(frame)
		if err != nil {
			return
		}
		checkHeader(t, frame, h)
	})
}

// checkHeader checks what holds for every header parseHeader accepts.
func checkHeader(t *testing.T, frame []byte, h header) {
	t.Helper()
	if err := headerMatchesFrame(frame, h); err != nil {
		t.Fatalf("frame %x: %v", frame, err)
	}
	again := AppendRequestHeader(nil, h.key, h.version, h.correlationID, &h.clientID, h.req.IsFlexible())
	h2, err := parseHeader(append(again, h.body...))
	if err != nil {
		t.Fatalf("frame %x: re-encoded header does not parse: %v", frame, err)
	}
	if h2.key != h.key || h2.version != h.version || h2.correlationID != h.correlationID ||
		h2.clientID != h.clientID || !bytes.Equal(h2.body, h.body) {
		t.Fatalf("frame %x: round trip changed the header: %+v, then %+v", frame, h, h2)
	}
}

func headerMatchesFrame(frame []byte, h header) error {
	switch {
	case len(frame) < 10:
		return errors.New("accepted a frame shorter than the fixed header")
	case h.key != int16(binary.BigEndian.Uint16(frame)) || h.version != int16(binary.BigEndian.Uint16(frame[2:])):
		return fmt.Errorf("key %d v%d do not match the frame", h.key, h.version)
	case h.correlationID != int32(binary.BigEndian.Uint32(frame[4:])):
		return fmt.Errorf("correlation id %d does not match the frame", h.correlationID)
	case h.version < 0:
		return fmt.Errorf("accepted negative version %d", h.version)
	case kmsg.RequestForKey(h.key) == nil || h.req == nil:
		return fmt.Errorf("accepted api key %d that kmsg does not know", h.key)
	case h.req.Key() != h.key || h.req.GetVersion() != h.version:
		return fmt.Errorf("request is key %d v%d, header says %d v%d", h.req.Key(), h.req.GetVersion(), h.key, h.version)
	case !bytes.HasSuffix(frame, h.body):
		return errors.New("body is not a suffix of the frame")
	case len(h.clientID) > len(frame)-10 || len(h.body) > len(frame)-10-len(h.clientID):
		return fmt.Errorf("client id (%d bytes) and body (%d bytes) overlap the fixed header", len(h.clientID), len(h.body))
	}
	return nil
}
