package atomicfile

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// diskFull fails writes with ENOSPC until the reserve file has shrunk to
// at most room bytes, as a full disk does until space is given back.
func diskFull(t *testing.T, reserve string, room int64, calls *int) func() error {
	return func() error {
		*calls++
		fi, err := os.Stat(reserve)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > room {
			return &os.PathError{Op: "write", Path: "state.tmp", Err: syscall.ENOSPC}
		}
		return nil
	}
}

func TestReserve(t *testing.T) {
	const step, size = 64 << 10, 4 * 64 << 10
	dir := t.TempDir()
	path := filepath.Join(dir, "reserve")
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	r := OpenReserve(path, size, step, log)
	if fi, err := os.Stat(path); err != nil || fi.Size() != size || r.Held() != size {
		t.Fatalf("reserve file %v (%v), holds %d; want %d bytes", fi, err, r.Held(), size)
	}

	// A write that needs two steps back succeeds on its third try.
	calls := 0
	if err := r.Do(diskFull(t, path, size-2*step, &calls)); err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want success after 3", err, calls)
	}
	if r.Held() != size-2*step {
		t.Fatalf("reserve holds %d after two releases, want %d", r.Held(), size-2*step)
	}

	// A write that fails however much is given back uses up the reserve,
	// then reports ENOSPC. The temp dir has room, so the reserve is
	// refilled first.
	calls = 0
	if err := r.Do(diskFull(t, path, -1, &calls)); !errors.Is(err, syscall.ENOSPC) || calls != 5 {
		t.Fatalf("Do = %v after %d calls, want ENOSPC after 5", err, calls)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 || r.Held() != 0 {
		t.Fatalf("reserve file %v (%v), holds %d; want it empty", fi, err, r.Held())
	}

	// Reopening finds what is held and refills it.
	r = OpenReserve(path, size, step, log)
	if fi, err := os.Stat(path); err != nil || fi.Size() != size || r.Held() != size {
		t.Fatalf("reopened reserve file %v (%v), holds %d; want %d bytes", fi, err, r.Held(), size)
	}

	var none *Reserve
	calls = 0
	if err := none.Do(diskFull(t, path, -1, &calls)); !errors.Is(err, syscall.ENOSPC) || calls != 1 {
		t.Fatalf("nil reserve: Do = %v after %d calls, want ENOSPC after 1", err, calls)
	}
}
