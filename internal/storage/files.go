package storage

import (
	"container/list"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"golang.org/x/sys/unix"
)

// osFile is what storage needs of an open file; *os.File and *segFile
// have it.
type osFile interface {
	io.ReaderAt
	io.WriterAt
	Name() string
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Sync() error
}

// fileCache bounds the segment files open at once (eddy.log.max.open.files),
// so that the descriptors a node needs do not grow with its partitions.
// Segment files are opened on first use and stay open, least recently used
// first out, until opening another would pass the limit. A file in use
// (pinned) is never closed: when every open file is pinned the cache goes
// over its limit rather than fail, so the limit bounds idle files and the
// rest is bounded by the I/O in flight (writes, fsyncs, fetched Chunks).
type fileCache struct {
	limit int
	// keys encrypt and decrypt the batches of the Manager's segments (nil:
	// encryption off). It lives here because every segment file knows its
	// cache; it never changes after Open.
	keys *Keyring
	// fsync observes the time of each segment file fsync (nil: not
	// observed); set at Open like keys.
	fsync prometheus.Observer
	mu    struct {
		sync.Mutex
		open int       // segment files open, pinned or not
		idle list.List // of *segFile open and unpinned, most recent first
	}
}

func newFileCache(limit int) *fileCache {
	return &fileCache{limit: max(limit, 1)}
}

// DefaultMaxOpenFiles is half the process's soft RLIMIT_NOFILE, leaving the
// other half to sockets and everything else. Go raises the soft limit to
// the hard one at start, so this is half the hard limit in practice.
func DefaultMaxOpenFiles() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return max(int(rl.Cur/2), 16)
}

// OpenFiles returns the segment files the cache holds open.
func (c *fileCache) openFiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.open
}

// evictLocked takes idle files off the cache until it is within its limit
// and returns them for the caller to close outside the lock.
func (c *fileCache) evictLocked() []*os.File { return c.evictToLocked(c.limit) }

func (c *fileCache) evictToLocked(target int) []*os.File {
	var victims []*os.File
	for c.mu.open > target {
		e := c.mu.idle.Back()
		if e == nil {
			break
		}
		sf := c.mu.idle.Remove(e).(*segFile)
		sf.elem = nil
		victims = append(victims, sf.f)
		sf.f = nil
		c.mu.open--
	}
	return victims
}

// open opens path for the cache. When the process is out of descriptors
// (sockets took the rest), it closes half the idle files and tries once
// more, so that a busy listener fails a write only when nothing is idle.
func (c *fileCache) open(path string, flags int) (*os.File, error) {
	f, err := openFile(path, flags)
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return f, err
	}
	c.mu.Lock()
	victims := c.evictToLocked(c.mu.open / 2)
	c.mu.Unlock()
	closeAll(victims)
	if len(victims) == 0 {
		return nil, err
	}
	return openFile(path, flags)
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close() // read-only use since the last fsync, or written and left to the next one
	}
}

// segFile is one file of a segment, opened through the cache on demand. Its
// methods hold the file open for their own duration; pin hands the
// descriptor out (for a Chunk) until unpin. Its path changes when the file
// is renamed (swap, removal), always through rename.
type segFile struct {
	c    *fileCache
	path atomic.Pointer[string]

	// openMu serialises opening and renaming this one file, so that an
	// open never uses a path a rename just left. It is held across the
	// open or rename syscall; only users of this file wait on it.
	openMu sync.Mutex
	// create lets an open create the file: set for the index files of a
	// new log, which are created at first use. Guarded by openMu.
	create bool

	// Guarded by c.mu.
	f      *os.File
	refs   int
	elem   *list.Element // in c.mu.idle while open and unpinned
	closed bool          // closed for good; the last unpin closes f
}

func newSegFile(c *fileCache, path string) *segFile {
	sf := &segFile{c: c}
	sf.path.Store(&path)
	return sf
}

// adopt makes f, just opened or created, the descriptor of sf, idle.
func (sf *segFile) adopt(f *os.File) {
	c := sf.c
	c.mu.Lock()
	sf.f = f
	c.mu.open++
	sf.elem = c.mu.idle.PushFront(sf)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

// Name returns the file's current path.
func (sf *segFile) Name() string { return *sf.path.Load() }

// tryPin pins the file if it is open.
func (sf *segFile) tryPin() (*os.File, error) {
	c := sf.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if sf.closed {
		return nil, &os.PathError{Op: "open", Path: sf.Name(), Err: os.ErrClosed}
	}
	if sf.f == nil {
		return nil, nil
	}
	sf.refs++
	if sf.elem != nil {
		c.mu.idle.Remove(sf.elem)
		sf.elem = nil
	}
	return sf.f, nil
}

// pin returns the open file, opening it if needed; it stays open until the
// matching unpin. With write, a file marked create is created if missing.
func (sf *segFile) pin(write bool) (*os.File, error) {
	if f, err := sf.tryPin(); f != nil || err != nil {
		return f, err
	}
	sf.openMu.Lock()
	defer sf.openMu.Unlock()
	if f, err := sf.tryPin(); f != nil || err != nil {
		return f, err
	}
	flags := os.O_RDWR
	if write && sf.create {
		flags |= os.O_CREATE
	}
	f, err := sf.c.open(sf.Name(), flags)
	if err != nil {
		if sf.create && errors.Is(err, fs.ErrNotExist) {
			err = errNotCreated
		}
		return nil, err
	}
	c := sf.c
	c.mu.Lock()
	if sf.closed {
		c.mu.Unlock()
		f.Close()
		return nil, &os.PathError{Op: "open", Path: sf.Name(), Err: os.ErrClosed}
	}
	sf.f, sf.refs = f, 1
	c.mu.open++
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
	return f, nil
}

// errNotCreated says a file marked create does not exist yet: it reads as
// empty.
var errNotCreated = errors.New("storage: file not created yet")

// unpin ends one pin. The last one makes the file idle (evictable), or
// closes it if the segment is gone.
func (sf *segFile) unpin() {
	c := sf.c
	c.mu.Lock()
	if sf.refs--; sf.refs < 0 {
		c.mu.Unlock()
		panic("storage: segment file unpinned more often than pinned")
	}
	var victims []*os.File
	switch {
	case sf.refs > 0:
	case sf.closed:
		victims = []*os.File{sf.f}
		sf.f = nil
		c.mu.open--
	default:
		sf.elem = c.mu.idle.PushFront(sf)
		victims = c.evictLocked()
	}
	c.mu.Unlock()
	closeAll(victims)
}

// close closes the file for good: now if it is idle, else at its last
// unpin. Later uses fail with os.ErrClosed.
func (sf *segFile) close() error {
	c := sf.c
	c.mu.Lock()
	sf.closed = true
	f := sf.f
	if f == nil || sf.refs > 0 {
		c.mu.Unlock()
		return nil
	}
	if sf.elem != nil {
		c.mu.idle.Remove(sf.elem)
		sf.elem = nil
	}
	sf.f = nil
	c.mu.open--
	c.mu.Unlock()
	return f.Close()
}

// evict closes the file if it is open and idle; it reopens on demand.
func (sf *segFile) evict() {
	c := sf.c
	c.mu.Lock()
	f := sf.f
	if f == nil || sf.refs > 0 {
		c.mu.Unlock()
		return
	}
	c.mu.idle.Remove(sf.elem)
	sf.elem, sf.f = nil, nil
	c.mu.open--
	c.mu.Unlock()
	_ = f.Close() // read, or written and fsynced, by the opener
}

// rename moves the file to path.
func (sf *segFile) rename(path string) error {
	sf.openMu.Lock()
	defer sf.openMu.Unlock()
	if ft := injected(opRename, sf.Name()); ft.err != nil {
		return &os.LinkError{Op: "rename", Old: sf.Name(), New: path, Err: ft.err}
	}
	if err := os.Rename(sf.Name(), path); err != nil {
		return err
	}
	sf.path.Store(&path)
	sf.create = false
	return nil
}

// do runs fn on the pinned file.
func (sf *segFile) do(write bool, fn func(f *os.File) error) error {
	f, err := sf.pin(write)
	if err != nil {
		return err
	}
	defer sf.unpin()
	return fn(f)
}

// ReadAt is (*os.File).ReadAt on the file, opened if needed. A file not
// created yet reads as empty.
func (sf *segFile) ReadAt(b []byte, off int64) (n int, err error) {
	err = sf.do(false, func(f *os.File) error {
		n, err = f.ReadAt(b, off)
		return err
	})
	if errors.Is(err, errNotCreated) {
		return 0, io.EOF
	}
	return n, err
}

// WriteAt is (*os.File).WriteAt on the file, opened (or created) if needed.
func (sf *segFile) WriteAt(b []byte, off int64) (n int, err error) {
	err = sf.do(true, func(f *os.File) error {
		n, err = f.WriteAt(b, off)
		return err
	})
	return n, err
}

// Stat is (*os.File).Stat on the file, opened if needed.
func (sf *segFile) Stat() (fi os.FileInfo, err error) {
	err = sf.do(false, func(f *os.File) error {
		fi, err = f.Stat()
		return err
	})
	return fi, err
}

// Truncate is (*os.File).Truncate on the file, opened (or created) if
// needed.
func (sf *segFile) Truncate(size int64) error {
	return sf.do(true, func(f *os.File) error { return f.Truncate(size) })
}

// Sync is (*os.File).Sync on the file, opened if needed. A file closed by
// the cache since it was written is reopened: on Linux an fsync through any
// descriptor writes back the file's dirty pages and reports a writeback
// error no descriptor has seen yet (errseq, since 4.16). A file not created
// yet has nothing to sync.
func (sf *segFile) Sync() error {
	err := sf.do(false, func(f *os.File) error {
		defer sf.c.observeSince(time.Now())
		return f.Sync()
	})
	if errors.Is(err, errNotCreated) {
		return nil
	}
	return err
}
