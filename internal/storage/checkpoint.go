package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
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

func writeCheckpoint(dir string, c checkpoint) error {
	return replaceFile(opCheckpoint, dir, checkpointFile, c.encode())
}
