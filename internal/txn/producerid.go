package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// blockSize is how many IDs one durable reservation covers: a restart skips
// at most this many, and only every blockSize-th allocation writes a file.
const blockSize = 1000

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// IDAllocator hands out producer IDs. It persists the end of the reserved
// block before handing out any ID inside it, so an ID is never reused after
// a crash.
type IDAllocator struct {
	path string
	// block, when set, reserves the next block instead of the file: on a
	// cluster the metadata quorum hands blocks out.
	block func() (start, end int64, err error)

	mu       sync.Mutex
	next     int64 // next ID to hand out
	reserved int64 // IDs below this are durably reserved
}

// NewBlockAllocator returns an allocator that takes blocks of ids from
// block (the metadata quorum's producer id blocks) instead of a file.
func NewBlockAllocator(block func() (start, end int64, err error)) *IDAllocator {
	return &IDAllocator{block: block}
}

// OpenIDAllocator loads the allocator state from dir, creating it if absent.
// No ID at or below floor is handed out: the caller passes the largest
// producer ID the partition logs still hold, so that a lost or restored
// (older) file cannot hand out an ID whose sequence state a log keeps, which
// would make the log drop the new producer's first batches as duplicates.
func OpenIDAllocator(dir string, floor int64) (*IDAllocator, error) {
	a := &IDAllocator{path: filepath.Join(dir, "producer-ids")}
	b, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading producer id file: %w", err)
	default:
		end, err := decodeIDFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (deleting it is safe: a new one starts above the producer ids the logs hold)", a.path, err)
		}
		a.next, a.reserved = end, end
	}
	if a.next <= floor {
		// The next Next reserves a new block from here before using it.
		a.next, a.reserved = floor+1, floor+1
	}
	return a, nil
}

// Next returns a producer ID never returned before.
func (a *IDAllocator) Next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.reserved && a.block != nil {
		start, end, err := a.block() // a quorum round trip, once per block
		if err != nil {
			return 0, err
		}
		a.next, a.reserved = start, end
	}
	if a.next >= a.reserved {
		// Holding the lock across this small fsynced write is deliberate:
		// it happens once per blockSize IDs and must finish before any ID
		// of the block is handed out.
		if err := writeIDFile(a.path, a.next+blockSize); err != nil {
			return 0, err
		}
		a.reserved = a.next + blockSize
	}
	id := a.next
	a.next++
	return id, nil
}

// The file is 16 bytes: version uint32 (1), CRC-32C of the next 8 bytes,
// and the reserved block end int64, all big-endian. See docs/format/txn.md.
func encodeIDFile(end int64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], 1)
	binary.BigEndian.PutUint64(b[8:], uint64(end))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

func decodeIDFile(b []byte) (int64, error) {
	if len(b) != 16 || binary.BigEndian.Uint32(b) != 1 {
		return 0, errCorruptIDFile
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, errCorruptIDFile
	}
	end := int64(binary.BigEndian.Uint64(b[8:]))
	if end < 0 {
		return 0, errCorruptIDFile
	}
	return end, nil
}

func writeIDFile(path string, end int64) error {
	if err := atomicfile.Write(path, encodeIDFile(end)); err != nil {
		return fmt.Errorf("writing producer id file: %w", err)
	}
	return nil
}
