package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
	"github.com/eddy-streaming/eddy/internal/record"
)

// ReencryptStats counts what Reencrypt did.
type ReencryptStats struct {
	Segments  int   // segment files seen
	Rewritten int   // segment files rewritten
	Batches   int64 // batches rewritten
	Bytes     int64 // bytes written
}

// reencryptIndexInterval is the offset index density of rewritten
// segments: the index is derived data, and the topic's own
// index.interval.bytes is not known offline, so Kafka's default is used.
const reencryptIndexInterval = 4096

// Reencrypt rewrites every segment under dir (a storage directory, not in
// use: the caller holds the node's data directory lock) that holds a batch
// not encrypted with the first key of keys, plain ones included, so that
// keys other than the first can then be dropped. Each segment is rewritten
// crash-safely: the new log and offset index are written to temporary
// files and fsynced, the old index is removed, and the new files are
// renamed into place (a crash leaves the old or the new segment, either
// with no index, which is derived data, and .tmp files the next open
// removes). The key check file then lists the first key only. Damaged
// batches (a torn tail the node has not recovered yet) stop it: start the
// node once to recover, then run it again.
func Reencrypt(ctx context.Context, dir string, keys *Keyring, logger *slog.Logger) (ReencryptStats, error) {
	var stats ReencryptStats
	if keys == nil {
		return stats, fmt.Errorf("%w: reencrypt needs keys", ErrKeyFile)
	}
	if _, err := CheckKeys(dir, keys); err != nil {
		return stats, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return stats, fmt.Errorf("storage: read data dir: %w", err)
	}
	for _, e := range ents {
		if _, ok := parsePartitionDir(e.Name()); !ok || !e.IsDir() {
			continue
		}
		if err := reencryptPartition(ctx, filepath.Join(dir, e.Name()), keys, logger, &stats); err != nil {
			return stats, err
		}
	}
	if err := writeKeyCheck(dir, []KeyID{keys.Primary()}); err != nil {
		return stats, err
	}
	return stats, nil
}

func reencryptPartition(ctx context.Context, pdir string, keys *Keyring, logger *slog.Logger, stats *ReencryptStats) error {
	ents, err := os.ReadDir(pdir)
	if err != nil {
		return fmt.Errorf("storage: read partition dir: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), swapExt) || strings.HasSuffix(e.Name(), cleanedExt) {
			return fmt.Errorf("storage: %s: a log cleaning was interrupted (%s); start the node once to finish it, then reencrypt", pdir, e.Name())
		}
	}
	for _, e := range ents {
		base, ok := parseSegmentName(e.Name())
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		stats.Segments++
		done, err := reencryptSegment(pdir, base, keys, stats)
		if err != nil {
			return err
		}
		if done {
			logger.Info("reencrypted segment", "dir", pdir, "segment", base)
		}
	}
	return nil
}

// reencryptSegment rewrites one segment if it needs it and says whether it
// did. It streams: memory stays a batch and the index, whatever the
// segment's size.
func reencryptSegment(pdir string, base int64, keys *Keyring, stats *ReencryptStats) (bool, error) {
	logPath := filepath.Join(pdir, segmentName(base, logExt))
	f, err := os.Open(logPath)
	if err != nil {
		return false, fmt.Errorf("storage: open segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("storage: stat segment: %w", err)
	}
	r := newBatchReader(f, fi.Size(), scanWindow)
	r.keys = keys
	_, statErr := os.Stat(filepath.Join(pdir, segmentName(base, indexExt)))
	if !needsReencrypt(r, keys.Primary()) && statErr == nil {
		return false, nil
	}
	tmpLog := logPath + ".reencrypt.tmp"
	idx, n, written, err := rewriteBatches(r, base, keys, tmpLog)
	if err != nil {
		os.Remove(tmpLog)
		return false, fmt.Errorf("storage: %s: %w; start the node once to recover the log, then reencrypt", logPath, err)
	}
	if err := replaceSegment(pdir, base, tmpLog, idx); err != nil {
		return false, err
	}
	stats.Rewritten++
	stats.Batches += n
	stats.Bytes += written
	return true, nil
}

// needsReencrypt says whether any batch of the segment is not encrypted
// with the key primary (unreadable framing says yes: the rewrite reports
// it).
func needsReencrypt(r *batchReader, primary KeyID) bool {
	for pos := int64(0); pos < r.limit; {
		h, err := r.header(pos)
		if err != nil || !isEncrypted(h) || h.Size() < record.HeaderSize+envelopeOverhead {
			return true
		}
		id, err := r.read(pos+record.HeaderSize+1, keyIDSize)
		if err != nil || KeyID(id) != primary {
			return true
		}
		pos += int64(h.Size())
	}
	return false
}

// rewriteBatches writes the batches of r re-encrypted with the first key
// to the file tmp, fsynced, and returns the segment's new offset index,
// the number of batches and the bytes written.
func rewriteBatches(r *batchReader, base int64, keys *Keyring, tmp string) ([]byte, int64, int64, error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var idx, out []byte
	var n, written, sinceIndex int64
	for pos := int64(0); pos < r.limit; n++ {
		h, err := r.header(pos)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("batch at %d: %w", pos, err)
		}
		plain, err := r.batch(pos, h)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("batch at %d: %w", pos, err)
		}
		if _, err := record.ValidateStored(plain); err != nil {
			return nil, 0, 0, fmt.Errorf("batch at %d: %w", pos, err)
		}
		out = keys.seal(out[:0], plain)
		if sinceIndex > reencryptIndexInterval {
			idx = appendIndexEntries(idx, []indexEntry{{rel: uint32(h.LastOffset() - base), pos: uint32(written)}})
			sinceIndex = 0
		}
		if _, err := w.Write(out); err != nil {
			return nil, 0, 0, fmt.Errorf("write %s: %w", tmp, err)
		}
		written += int64(len(out))
		sinceIndex += int64(len(out))
		pos += int64(h.Size())
	}
	if err := errors.Join(w.Flush(), f.Sync()); err != nil {
		return nil, 0, 0, fmt.Errorf("write %s: %w", tmp, err)
	}
	return idx, n, written, nil
}

// replaceSegment puts the new log and index of the segment at base in
// place, crash-safely (see Reencrypt).
func replaceSegment(pdir string, base int64, tmpLog string, idx []byte) error {
	logPath, idxPath := filepath.Join(pdir, segmentName(base, logExt)), filepath.Join(pdir, segmentName(base, indexExt))
	tmpIdx := idxPath + ".reencrypt.tmp"
	if err := writeSynced(tmpIdx, idx); err != nil {
		return err
	}
	if err := os.Remove(idxPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove old index: %w", err)
	}
	if err := atomicfile.SyncDir(pdir); err != nil {
		return fmt.Errorf("storage: sync partition dir: %w", err)
	}
	if err := os.Rename(tmpLog, logPath); err != nil {
		return fmt.Errorf("storage: rename reencrypted segment: %w", err)
	}
	if err := os.Rename(tmpIdx, idxPath); err != nil {
		return fmt.Errorf("storage: rename reencrypted index: %w", err)
	}
	if err := atomicfile.SyncDir(pdir); err != nil {
		return fmt.Errorf("storage: sync partition dir: %w", err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("storage: write %s: %w", path, err)
	}
	return nil
}
