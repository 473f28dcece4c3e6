package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Kafka's answer to OffsetForLeaderEpoch when nothing is known.
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

const (
	epochFile        = "leader-epoch-checkpoint"
	epochMagic       = "EDLE"
	epochVersion     = 1
	epochHeaderSize  = 4 + 2 + 2 + 4 // magic, version, reserved, count
	epochEntrySize   = 4 + 8
	epochTrailerSize = 4
)

// epochEntry says that the batches from start on carry epoch, up to the
// next entry's start. See docs/format/segment.md, "Leader epochs".
type epochEntry struct {
	epoch int32
	start int64
}

// epochList is a log's leader-epoch cache, Kafka's leader-epoch-checkpoint:
// epochs and start offsets both strictly increasing. Lists are values:
// every change returns a new slice, so a reader's copy never changes.
type epochList []epochEntry

func (el epochList) latest() int32 {
	if len(el) == 0 {
		return UndefinedEpoch
	}
	return el[len(el)-1].epoch
}

// assign records that epoch starts at start. Like Kafka, an epoch not
// above the latest is ignored, and entries starting at or after start
// (an epoch that kept no batch) give way to it.
func (el epochList) assign(epoch int32, start int64) epochList {
	if len(el) > 0 && epoch <= el.latest() {
		return el
	}
	n := len(el)
	for n > 0 && el[n-1].start >= start {
		n--
	}
	return append(slices.Clip(el[:n]), epochEntry{epoch, start})
}

// truncateFromEnd drops the entries starting at or after end (TruncateTo).
func (el epochList) truncateFromEnd(end int64) epochList {
	n := sort.Search(len(el), func(i int) bool { return el[i].start >= end })
	return slices.Clip(el[:n])
}

// truncateFromStart folds the entries below a new log start offset into
// one starting there, as Kafka does when the log start advances.
func (el epochList) truncateFromStart(start int64) epochList {
	i := sort.Search(len(el), func(i int) bool { return el[i].start > start })
	if i == 0 {
		return el
	}
	out := append(epochList{{el[i-1].epoch, start}}, el[i:]...)
	return out
}

// endOffsetFor answers OffsetForLeaderEpoch with Kafka's semantics
// (LeaderEpochFileCache.endOffsetFor): for the latest epoch, the log end
// offset; for an older one, the largest epoch at or below it and the start
// of the epoch after it; for one below every entry, the requested epoch
// and the first entry's start (the data before was deleted, and the
// follower must start from there); undefined for an undefined epoch, one
// above the latest, or an empty cache.
func (el epochList) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if epoch == UndefinedEpoch || len(el) == 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if epoch == el.latest() {
		return epoch, logEnd
	}
	hi := sort.Search(len(el), func(i int) bool { return el[i].epoch > epoch })
	switch {
	case hi == len(el):
		return UndefinedEpoch, UndefinedEpochOffset
	case hi == 0:
		return epoch, el[0].start
	}
	return el[hi-1].epoch, el[hi].start
}

// check says whether a stored batch at base may carry epoch. The batch
// header's epoch is outside its CRC, so the cache (whose file has one) is
// what finds a damaged epoch. Batches below the first entry (folded by a
// log start advance) may carry any epoch up to its.
func (el epochList) check(base int64, epoch int32) error {
	i := sort.Search(len(el), func(i int) bool { return el[i].start > base })
	switch {
	case epoch < 0:
	case len(el) == 0:
		return nil
	case i == 0 && epoch <= el[0].epoch:
		return nil
	case i > 0 && epoch == el[i-1].epoch:
		return nil
	}
	return fmt.Errorf("%w: leader epoch %d at offset %d does not match the epoch cache", record.ErrCorrupt, epoch, base)
}

func (el epochList) encode() []byte {
	be := binary.BigEndian
	b := make([]byte, 0, epochHeaderSize+len(el)*epochEntrySize+epochTrailerSize)
	b = append(b, epochMagic...)
	b = be.AppendUint16(b, epochVersion)
	b = be.AppendUint16(b, 0)
	b = be.AppendUint32(b, uint32(len(el)))
	for _, e := range el {
		b = be.AppendUint32(b, uint32(e.epoch))
		b = be.AppendUint64(b, uint64(e.start))
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeEpochs(b []byte) (epochList, error) {
	be := binary.BigEndian
	bad := func(what string) (epochList, error) {
		return nil, fmt.Errorf("%w: leader epoch checkpoint: %s", errCorruptFile, what)
	}
	if len(b) < epochHeaderSize+epochTrailerSize || string(b[:4]) != epochMagic {
		return bad("header")
	}
	body := b[:len(b)-epochTrailerSize]
	if crc32.Checksum(body, castagnoli) != be.Uint32(b[len(body):]) {
		return bad("crc")
	}
	if be.Uint16(b[4:]) != epochVersion {
		return bad("version")
	}
	n, rest := be.Uint32(b[8:]), body[epochHeaderSize:]
	if uint64(n)*epochEntrySize != uint64(len(rest)) {
		return bad("count")
	}
	el := make(epochList, 0, n)
	for ; len(rest) > 0; rest = rest[epochEntrySize:] {
		e := epochEntry{int32(be.Uint32(rest)), int64(be.Uint64(rest[4:]))}
		if e.epoch < 0 || e.start < 0 || len(el) > 0 && (e.epoch <= el.latest() || e.start <= el[len(el)-1].start) {
			return bad("entries out of order")
		}
		el = append(el, e)
	}
	return el, nil
}

func readEpochs(dir string) (epochList, error) {
	b, err := os.ReadFile(filepath.Join(dir, epochFile))
	if err != nil {
		return nil, err
	}
	return decodeEpochs(b)
}

func writeEpochs(dir string, el epochList) error {
	if err := replaceFile(opCheckpoint, dir, epochFile, el.encode()); err != nil {
		return fmt.Errorf("write leader epoch checkpoint: %w", err)
	}
	return nil
}

// loadEpochs restores the epoch cache at open. A valid file is trusted,
// folded at the log start (DeleteRecords and retention do not rewrite it)
// and cut at the log end: it is written before the batches of a new epoch
// and by TruncateTo, so after a crash it can only be ahead of the log. (Batch headers are not: their
// epoch is outside the CRC; verification checks them against the cache.)
// A missing or corrupt file is rebuilt from the batch headers; a log whose
// last batch has epoch 0 (every log of a single node) needs no scan, since
// epochs only grow. lastEpoch is -1 for a log without batches.
func (l *Log) loadEpochs(segs []*segment, logStart, logEnd int64, lastEpoch int32) (epochList, error) {
	el, err := readEpochs(l.dir)
	if err == nil {
		return el.truncateFromStart(logStart).truncateFromEnd(logEnd), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		l.logger.Warn("rebuilding unreadable leader epoch checkpoint", "err", err)
	}
	if lastEpoch <= 0 {
		if lastEpoch < 0 {
			return nil, nil
		}
		return epochList{{0, logStart}}, nil
	}
	el, err = scanEpochs(segs)
	if err != nil {
		return nil, err
	}
	el = el.truncateFromStart(logStart).truncateFromEnd(logEnd)
	l.logger.Info("rebuilt leader epoch cache from the log", "entries", len(el), "latest_epoch", el.latest())
	return el, writeEpochs(l.dir, el)
}

// scanEpochs rebuilds the epoch cache from every batch header.
func scanEpochs(segs []*segment) (epochList, error) {
	var el epochList
	for _, s := range segs {
		r := newBatchReader(s.log, s.st.size, scanWindow)
		for pos := int64(0); pos < s.st.size; {
			h, err := r.header(pos)
			if err != nil {
				return nil, fmt.Errorf("rebuild leader epochs: %w", s.corrupt(pos, -1, err))
			}
			el = el.assign(h.PartitionLeaderEpoch, h.BaseOffset)
			pos += int64(h.Size())
		}
	}
	return el, nil
}

// lastBatchEpoch is the leader epoch of the log's last batch, -1 if none.
func lastBatchEpoch(segs []*segment) int32 {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].st.size > 0 {
			return segs[i].lastEpoch
		}
	}
	return -1
}

// LatestEpoch returns the leader epoch of the newest entry of the epoch
// cache, false if the cache is empty.
func (l *Log) LatestEpoch() (int32, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.latest(), len(l.mu.epochs) > 0
}

// EpochStartOffset returns the first offset written in epoch, false if the
// cache has no entry for it.
func (l *Log) EpochStartOffset(epoch int32) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, e := range l.mu.epochs {
		if e.epoch == epoch {
			return e.start, true
		}
	}
	return -1, false
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this log: the largest
// epoch at or below epoch and the offset where it ended (the log end offset
// for the latest epoch), or (UndefinedEpoch, UndefinedEpochOffset). See
// epochList.endOffsetFor for the cases.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.endOffsetFor(epoch, l.mu.logEnd)
}
