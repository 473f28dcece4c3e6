package atomicfile

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Reserve is a file of preallocated disk space kept for the few writes
// that must succeed on a full disk: metadata changes and the checkpoints
// of deletes, which are how an operator frees space through Kafka's API.
// When such a write fails with ENOSPC, the reserve gives back one step of
// its space (by truncating the file) and the write is retried, as long as
// steps remain. It grows back to its full size before a later write once
// the file system has room for it twice over. A nil *Reserve holds
// nothing. Methods are safe for concurrent use.
type Reserve struct {
	path       string
	size, step int64
	log        *slog.Logger

	// mu serialises changes to the reserve file and guards held. It is
	// held across that file's I/O on purpose: only writers of state files
	// take it, refills take it with TryLock, and a write waiting for a
	// release needs the release to have finished.
	mu   sync.Mutex
	held int64 // bytes in the file
}

// OpenReserve opens or creates the reserve file at path and fills it to
// size (a multiple of step) if the file system has room; failing that it
// holds what it can get later and logs why.
func OpenReserve(path string, size, step int64, log *slog.Logger) *Reserve {
	r := &Reserve{path: path, size: size, step: max(step, 1), log: log}
	if fi, err := os.Stat(path); err == nil {
		r.held = min(fi.Size(), size)
	}
	if r.held < size {
		if err := r.fill(); err != nil {
			log.Warn("cannot fill the disk-space reserve; metadata writes may fail on a full disk", "path", path, "err", err)
		}
	}
	return r
}

// Do runs write, a replacement of a small file, giving back reserved space
// and retrying while it fails with ENOSPC.
func (r *Reserve) Do(write func() error) error {
	if r == nil {
		return write()
	}
	r.refill()
	err := write()
	for errors.Is(err, syscall.ENOSPC) && r.release() {
		err = write()
	}
	return err
}

// Held returns the bytes the reserve holds.
func (r *Reserve) Held() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// release truncates one step off the reserve, reporting whether it freed
// anything.
func (r *Reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == 0 {
		return false
	}
	n := max(r.held-r.step, 0)
	if err := os.Truncate(r.path, n); err != nil {
		r.log.Error("cannot release the disk-space reserve", "path", r.path, "err", err)
		return false
	}
	r.held = n
	r.log.Warn("disk full: released part of the disk-space reserve for a metadata write", "path", r.path, "reserve_bytes", n)
	return true
}

// refill grows a depleted reserve back when the file system has room for
// it and as much again, so that refilling never fills the disk itself.
func (r *Reserve) refill() {
	if !r.mu.TryLock() {
		return // a refill or release is under way
	}
	defer r.mu.Unlock()
	if r.held >= r.size {
		return
	}
	if free, ok := freeBytes(filepath.Dir(r.path)); !ok || free < 2*r.size-r.held {
		return
	}
	if err := r.fillLocked(); err != nil {
		r.log.Warn("cannot refill the disk-space reserve", "path", r.path, "err", err)
		return
	}
	r.log.Info("disk-space reserve refilled", "path", r.path, "reserve_bytes", r.held)
}

func (r *Reserve) fill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fillLocked()
}

// fillLocked writes the missing bytes and fsyncs them. The bytes are
// pseudo-random so that a compressing or deduplicating file system
// allocates them for real; on failure the file is cut back to what it held.
func (r *Reserve) fillLocked() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open reserve: %w", err)
	}
	err = writeNoise(f, r.held, r.size)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(r.held)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fill reserve %s: %w", r.path, err)
	}
	r.held = r.size
	return SyncDir(filepath.Dir(r.path))
}

func writeNoise(f *os.File, from, to int64) error {
	rng := rand.NewChaCha8([32]byte{'e', 'd', 'd', 'y'})
	buf := make([]byte, 64<<10)
	for off := from; off < to; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), to-off)]
		_, _ = rng.Read(b)
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
	}
	return nil
}
