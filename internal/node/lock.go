package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in the data directory whose exclusive flock
// marks the directory as owned by one running node.
const lockFileName = ".lock"

// errDataDirInUse is returned when another process holds the data
// directory: two nodes appending to the same logs would each overwrite what
// the other acknowledged.
var errDataDirInUse = errors.New("node: data directory in use by another eddy process")

// dirLock is an exclusive flock on the data directory's lock file. The
// kernel drops it when the process dies, so a kill -9 never leaves a stale
// lock behind.
type dirLock struct{ f *os.File }

// lockDataDir takes the data directory's lock without waiting, recording
// this process's pid in the file so that a refused start can name the
// holder.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by %s", errDataDirInUse, dir, holder)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The pid is informative only; failing to record it must not stop a
	// node that holds the lock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "an unknown process"
	}
	return "pid " + pid
}

// release drops the lock. The file stays: removing it would let a node
// that opened it just before lock a file no longer in the directory.
func (l *dirLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
