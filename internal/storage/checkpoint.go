package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"syscall"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	checkpointFile    = "checkpoint"
	checkpointMagic   = "EDCK"
	checkpointVersion = 1
	checkpointSize    = 32
	flagClean         = 1
)

// checkpoint is the per-partition state that is not derivable from the
// segments. See docs/format/segment.md.
type checkpoint struct {
	logStart      int64
	recoveryPoint int64 // every batch below it was fsynced
	clean         bool  // written by Close after a final flush
}

func (c checkpoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	var flags uint16
	if c.clean {
		flags |= flagClean
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(c.logStart))
	b = binary.BigEndian.AppendUint64(b, uint64(c.recoveryPoint))
	b = binary.BigEndian.AppendUint32(b, 0) // reserved
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	if len(b) != checkpointSize || string(b[:4]) != checkpointMagic {
		return checkpoint{}, fmt.Errorf("%w: checkpoint of %d bytes", errCorruptFile, len(b))
	}
	be := binary.BigEndian
	if crc32.Checksum(b[:28], castagnoli) != be.Uint32(b[28:]) {
		return checkpoint{}, fmt.Errorf("%w: checkpoint crc", errCorruptFile)
	}
	if v := be.Uint16(b[4:]); v != checkpointVersion {
		return checkpoint{}, fmt.Errorf("%w: checkpoint version %d", errCorruptFile, v)
	}
	return checkpoint{
		clean:         be.Uint16(b[6:])&flagClean != 0,
		logStart:      int64(be.Uint64(b[8:])),
		recoveryPoint: int64(be.Uint64(b[16:])),
	}, nil
}

func readCheckpoint(dir string) (checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return checkpoint{}, err
	}
	return decodeCheckpoint(b)
}

// writeCheckpoint replaces the checkpoint file atomically. On a full disk
// (ENOSPC creating the new file) it overwrites the existing file in place
// instead, which needs no new block: the 32 bytes sit in one sector, and
// a torn write would fail the CRC and be ignored on open, as a missing
// checkpoint is. That keeps a full disk from stopping a node's start (the
// open clears the clean flag) and DeleteRecords.
func writeCheckpoint(dir string, c checkpoint) error {
	err := replaceFile(opCheckpoint, dir, checkpointFile, c.encode())
	if errors.Is(err, syscall.ENOSPC) && overwriteCheckpoint(dir, c) == nil {
		return nil
	}
	return err
}

func overwriteCheckpoint(dir string, c checkpoint) error {
	path := filepath.Join(dir, checkpointFile)
	if ft := injected(opCheckpoint, path); ft.err != nil {
		return ft.err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err // no file to overwrite
	}
	if fi, serr := f.Stat(); serr != nil || fi.Size() != checkpointSize {
		f.Close()
		return errCorruptFile // would need new space or leave a tail
	}
	_, err = f.WriteAt(c.encode(), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
