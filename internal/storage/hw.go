package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	hwFile    = "high-watermark"
	hwMagic   = "EDHW"
	hwVersion = 1
	hwSize    = 4 + 2 + 2 + 8 + 4
)

// encodeHighWatermark serializes the high-watermark checkpoint (Kafka's
// replication-offset-checkpoint, one per partition here); see
// docs/format/segment.md.
func encodeHighWatermark(hw int64) []byte {
	b := append(make([]byte, 0, hwSize), hwMagic...)
	b = binary.BigEndian.AppendUint16(b, hwVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(hw))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHighWatermark(b []byte) (int64, error) {
	be := binary.BigEndian
	if len(b) != hwSize || string(b[:4]) != hwMagic {
		return 0, fmt.Errorf("%w: high watermark of %d bytes", errCorruptFile, len(b))
	}
	if crc32.Checksum(b[:16], castagnoli) != be.Uint32(b[16:]) {
		return 0, fmt.Errorf("%w: high watermark crc", errCorruptFile)
	}
	if v := be.Uint16(b[4:]); v != hwVersion {
		return 0, fmt.Errorf("%w: high watermark version %d", errCorruptFile, v)
	}
	return int64(be.Uint64(b[8:])), nil
}

// loadHighWatermark returns the persisted high watermark clamped to the
// log, or the log start offset (Kafka starts from 0 and clamps) when there
// is none. Only a log with ManualHighWatermark has the file.
func (l *Log) loadHighWatermark(logStart, logEnd int64) int64 {
	b, err := os.ReadFile(filepath.Join(l.dir, hwFile))
	if errors.Is(err, os.ErrNotExist) {
		return logStart
	}
	hw, derr := decodeHighWatermark(b)
	if err != nil || derr != nil {
		l.logger.Warn("ignoring unreadable high watermark checkpoint", "err", errors.Join(err, derr))
		return logStart
	}
	l.ckpt.hw = hw
	return min(max(hw, logStart), logEnd)
}

// manualHW says whether the high watermark is set by the caller
// (replication) rather than following the log end offset.
func (l *Log) manualHW() bool { return l.m.cfg.ManualHighWatermark }

// hwLocked returns the high watermark; the caller holds l.mu.
func (l *Log) hwLocked() int64 {
	if !l.manualHW() {
		return l.mu.logEnd
	}
	return min(max(l.mu.hw, l.mu.logStart), l.mu.logEnd)
}

// HighWatermark returns the end of the committed log: the offset below
// which every record is replicated to the in-sync replicas. Without
// Config.ManualHighWatermark (a single node) every written batch is
// committed, so it equals LogEndOffset.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hwLocked()
}

// SetHighWatermark raises the high watermark to o, capped at the log end
// offset; a lower o changes nothing (only TruncateTo lowers it). It wakes
// long polls when the high watermark moves and returns its new value.
// Without Config.ManualHighWatermark it only returns the log end offset.
func (l *Log) SetHighWatermark(o int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.manualHW() {
		return l.mu.logEnd
	}
	old := l.hwLocked()
	if o = min(o, l.mu.logEnd); o > old {
		l.mu.hw = o
		l.mu.txns.prune(o)
		close(l.mu.changed)
		l.mu.changed = make(chan struct{})
	}
	return l.hwLocked()
}

// persistHighWatermark writes the high-watermark checkpoint when it
// changed since the last write. Logs without ManualHighWatermark have no
// such file: their high watermark is their log end offset.
func (l *Log) persistHighWatermark() error {
	if !l.manualHW() {
		return nil
	}
	l.ckpt.Lock()
	defer l.ckpt.Unlock()
	hw := l.HighWatermark()
	if hw == l.ckpt.hw {
		return nil
	}
	if err := l.m.cfg.Reserve.Do(func() error { return replaceFile(opCheckpoint, l.dir, hwFile, encodeHighWatermark(hw)) }); err != nil {
		return fmt.Errorf("%w: persist high watermark of %s: %w", ErrStorage, partitionDirName(l.topic, l.partition), err)
	}
	l.ckpt.hw = hw
	return nil
}
