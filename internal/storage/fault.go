package storage

import (
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// fileOp names a file operation that tests can make fail.
type fileOp uint8

const (
	opWrite      fileOp = iota + 1 // segment data write
	opIndexWrite                   // offset or time index write
	opSync                         // fsync of a segment's files
	opTruncate                     // segment truncate (failed-group cleanup, recovery)
	opOpen                         // segment open or create (rolls, recovery)
	opCheckpoint                   // checkpoint file replacement
	opSnapshot                     // producer snapshot replacement
	opRename                       // segment file rename (removal, swap)
)

// fault is what a faultFunc asks of one operation: fail with err (nil lets
// it proceed). A failing opWrite or opIndexWrite first writes torn bytes,
// as a disk that fills up mid-write does.
type fault struct {
	err  error
	torn int
}

// faultFunc decides the fault of op on the file at path.
type faultFunc func(op fileOp, path string) fault

// faults is the fault-injection seam, in the spirit of pebble's
// vfs/errorfs but only as wide as the operations whose failure matters:
// tests store a faultFunc, production never does, and the cost is one
// atomic load per operation. It is global so that segments need no
// back-pointer; tests match on paths under their own directory.
var faults atomic.Pointer[faultFunc]

func injected(op fileOp, path string) fault {
	if f := faults.Load(); f != nil {
		return (*f)(op, path)
	}
	return fault{}
}

// writeAt writes all of b at off (op is opWrite or opIndexWrite).
func writeAt(op fileOp, f osFile, b []byte, off int64) error {
	if ft := injected(op, f.Name()); ft.err != nil {
		_, _ = f.WriteAt(b[:min(ft.torn, len(b))], off)
		return ft.err
	}
	_, err := f.WriteAt(b, off)
	return err
}

func syncFile(f osFile) error {
	if ft := injected(opSync, f.Name()); ft.err != nil {
		return ft.err
	}
	return f.Sync()
}

func truncateFile(f osFile, size int64) error {
	if ft := injected(opTruncate, f.Name()); ft.err != nil {
		return ft.err
	}
	return f.Truncate(size)
}

func openFile(path string, flags int) (*os.File, error) {
	if ft := injected(opOpen, path); ft.err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: ft.err}
	}
	return os.OpenFile(path, flags, 0o644)
}

// replaceFile atomically replaces dir/name (op is opCheckpoint or
// opSnapshot). An injected failure leaves the old file, as atomicfile
// guarantees for a real one.
func replaceFile(op fileOp, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	if ft := injected(op, path); ft.err != nil {
		return &os.PathError{Op: "write", Path: path, Err: ft.err}
	}
	return atomicfile.Write(path, data)
}
