package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// part is a piece of an outgoing frame: bytes, or a range of a file.
type part struct {
	bytes []byte
	chunk storage.Chunk
}

// splice cuts an encoded response (4 size bytes reserved at its start) at
// each splice marker, replacing the marker and its length prefix with the
// real length and the file chunks, then fills in the frame size. The first
// part always starts at the start of buf (a marker lies past the header).
func splice(buf []byte, splices []broker.Splice, flexible bool) ([]part, error) {
	var parts []part
	var total int64
	rest := buf
	for _, s := range splices {
		i := bytes.Index(rest, s.Marker)
		prefix := 4
		if flexible {
			prefix = 1
		}
		if i < prefix {
			return nil, errors.New("server: splice marker missing from fetch response")
		}
		var n int64
		for _, c := range s.Chunks {
			n += c.Len
		}
		head := appendLength(rest[:i-prefix:i-prefix], n, flexible)
		parts = append(parts, part{bytes: head})
		total += int64(len(head))
		for _, c := range s.Chunks {
			parts = append(parts, part{bytes: c.Data, chunk: c}) // Data: an encrypted log's, in memory
		}
		total += n
		rest = rest[i+len(s.Marker):]
	}
	parts = append(parts, part{bytes: rest})
	total += int64(len(rest))
	if total-4 > 1<<31-1 {
		return nil, fmt.Errorf("server: response of %d bytes is too large", total)
	}
	binary.BigEndian.PutUint32(parts[0].bytes, uint32(total-4))
	return parts, nil
}

// appendLength writes a record-set length prefix: INT32 in classic
// versions, unsigned varint of length+1 in flexible ones.
func appendLength(dst []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// writeParts writes a frame: bytes through the buffered writer, file ranges
// with sendfile when the connection is plain TCP, else by reading them.
func (c *conn) writeParts(parts []part) error {
	// A client that reads no answer for connections.max.idle.ms is idle too.
	if d := c.s.cfg.IdleTimeout; d > 0 {
		c.c.SetWriteDeadline(time.Now().Add(d))
	}
	tcp, isTCP := c.c.(*net.TCPConn)
	for _, p := range parts {
		if p.chunk.File == nil {
			if _, err := c.w.Write(p.bytes); err != nil {
				return fmt.Errorf("writing response: %w", err)
			}
			continue
		}
		if err := c.w.Flush(); err != nil {
			return fmt.Errorf("writing response: %w", err)
		}
		var err error
		if isTCP {
			err = sendfile(tcp, p.chunk.File, p.chunk.Pos, p.chunk.Len)
		} else {
			_, err = io.Copy(c.w, io.NewSectionReader(p.chunk.File, p.chunk.Pos, p.chunk.Len))
		}
		if err != nil {
			return fmt.Errorf("writing fetched records: %w", err)
		}
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("writing response: %w", err)
	}
	return nil
}

// sendfile copies n bytes of f from pos to the socket inside the kernel.
// It uses the positional form so concurrent readers of f never share a
// file offset.
func sendfile(conn *net.TCPConn, f *os.File, pos, n int64) error {
	out, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	in, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	rerr := in.Read(func(infd uintptr) bool {
		serr = out.Write(func(outfd uintptr) bool {
			for n > 0 {
				w, e := unix.Sendfile(int(outfd), int(infd), &pos, int(min(n, 1<<30)))
				if e == unix.EAGAIN {
					return false // wait until the socket is writable
				}
				if e != nil {
					serr = e
					return true
				}
				if w == 0 {
					serr = io.ErrUnexpectedEOF
					return true
				}
				n -= int64(w)
			}
			return true
		})
		return true
	})
	if rerr != nil {
		return rerr
	}
	return serr
}

// setTopLevelError sets a response's top-level ErrorCode field, reporting
// whether it has one. Reflection keeps this generic over every API; it runs
// only on the rare unsupported-version path.
func setTopLevelError(resp any, code int16) bool {
	v := reflect.ValueOf(resp)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	f := v.Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 || !f.CanSet() {
		return false
	}
	f.SetInt(int64(code))
	return true
}
