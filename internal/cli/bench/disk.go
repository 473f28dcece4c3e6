package bench

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// diskChunk is both the write size and the sync interval of the group
// commit pass.
const diskChunk = 1 << 20

// diskResult is what bench disk prints.
type diskResult struct {
	Bench            string  `json:"bench"`
	Dir              string  `json:"dir"`
	Bytes            int64   `json:"bytes"`
	OneSyncMBPerSec  float64 `json:"one_sync_mb_per_sec"`
	SyncEachMBPerSec float64 `json:"sync_every_mib_mb_per_sec"`
	OneSyncSeconds   float64 `json:"one_sync_seconds"`
	SyncEachSeconds  float64 `json:"sync_every_mib_seconds"`
}

func (r diskResult) line() string {
	return fmt.Sprintf("disk %s: %.1f MB/s one fdatasync  %.1f MB/s fdatasync every 1 MiB  (%s each)",
		r.Dir, r.OneSyncMBPerSec, r.SyncEachMBPerSec, formatSize(r.Bytes))
}

func diskCommand() *cobra.Command {
	var (
		dir    string
		size   = byteSize(1 << 30)
		format string
	)
	cmd := &cobra.Command{
		Use:   "disk",
		Short: "Measure sequential write throughput of a directory's disk",
		Long: `Measure sequential write throughput of a directory's disk.

Writes --size bytes of random data sequentially in 1 MiB writes to a new
file in --dir, twice: once with a single fdatasync at the end (the disk's
streaming limit), once with an fdatasync after every 1 MiB (the cost of a
durable group commit). The file is removed afterwards. Pick a --size well
above what the page cache absorbs quickly, or the first figure is the
memory's speed more than the disk's.

Examples:
  eddy bench disk --dir /var/lib/eddy --size 1GiB
  eddy bench disk --dir . --size 256MiB --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			r, err := runDisk(dir, int64(size))
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, r)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory on the disk to measure")
	cmd.Flags().Var(&size, "size", "bytes to write per pass (e.g. 1GiB, 256MiB)")
	registerFormat(cmd, &format)
	return cmd
}

// runDisk runs both passes in dir.
func runDisk(dir string, size int64) (diskResult, error) {
	r := diskResult{Bench: "disk", Dir: dir, Bytes: size}
	buf := make([]byte, diskChunk)
	rand.Read(buf)
	one, err := writePass(dir, buf, size, false)
	if err != nil {
		return r, err
	}
	each, err := writePass(dir, buf, size, true)
	if err != nil {
		return r, err
	}
	r.OneSyncSeconds, r.SyncEachSeconds = one.Seconds(), each.Seconds()
	r.OneSyncMBPerSec = perSec(float64(size)/megabyte, one)
	r.SyncEachMBPerSec = perSec(float64(size)/megabyte, each)
	return r, nil
}

// writePass writes size bytes of buf to a new file in dir and syncs it,
// after every chunk if syncEach; it returns the time taken and removes the
// file.
func writePass(dir string, buf []byte, size int64, syncEach bool) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "eddy-bench-disk-*")
	if err != nil {
		return 0, fmt.Errorf("bench disk: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			return 0, fmt.Errorf("bench disk: writing %s: %w", filepath.Base(f.Name()), err)
		}
		if syncEach || left <= int64(len(buf)) {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, fmt.Errorf("bench disk: fdatasync: %w", err)
			}
		}
	}
	return time.Since(start), nil
}
