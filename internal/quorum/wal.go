package quorum

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// WAL record layout (docs/format/quorum.md):
//
//	+--------+--------+------+---------+
//	| length | crc32c | kind | payload |
//	|   u32  |  u32   |  u8  |         |
//	+--------+--------+------+---------+
//
// length counts kind and payload; the CRC-32C covers them too. The
// payload is the protobuf encoding of a raftpb.Entry or raftpb.HardState.
const (
	recordHeader   = 8
	kindEntry      = 1
	kindHardState  = 2
	maxRecordBytes = 64 << 20 // a record larger than this is corruption
	walPrefix      = "wal-"
	walSuffix      = ".log"
	snapshotFile   = "snapshot"
	snapshotMagic  = "EDDYSNAP"
	snapshotVer    = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walState is what a WAL directory holds: the latest snapshot, the latest
// hard state and the entries after the snapshot, in index order.
type walState struct {
	snapshot *pb.Snapshot
	hard     *pb.HardState
	entries  []*pb.Entry
}

// wal is the durable log of one quorum member: raft entries and hard
// states appended to numbered files, and the latest snapshot in its own
// file. Only the quorum's run goroutine uses it.
type wal struct {
	dir  string
	f    *os.File
	seq  uint64 // number of the file being appended to
	size int64
	buf  []byte
}

// openWAL reads dir (creating it if needed), cutting a torn or corrupt
// tail off the last file, and opens it for appending.
func openWAL(dir string) (*wal, walState, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, walState{}, fmt.Errorf("quorum: creating %s: %w", dir, err)
	}
	st := walState{hard: &pb.HardState{}}
	snap, err := readSnapshot(filepath.Join(dir, snapshotFile))
	if err != nil {
		return nil, walState{}, err
	}
	st.snapshot = snap
	seqs, err := walFiles(dir)
	if err != nil {
		return nil, walState{}, err
	}
	w := &wal{dir: dir}
	for i, seq := range seqs {
		last := i == len(seqs)-1
		if err := w.replay(seq, &st, last); err != nil {
			return nil, walState{}, err
		}
	}
	if len(seqs) == 0 {
		seqs = []uint64{1}
	}
	if err := w.openForAppend(seqs[len(seqs)-1]); err != nil {
		return nil, walState{}, err
	}
	return w, st, nil
}

func walName(seq uint64) string { return fmt.Sprintf("%s%020d%s", walPrefix, seq, walSuffix) }

func walFiles(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("quorum: listing %s: %w", dir, err)
	}
	var seqs []uint64
	for _, de := range des {
		n := de.Name()
		if !strings.HasPrefix(n, walPrefix) || !strings.HasSuffix(n, walSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, walPrefix), walSuffix), 10, 64)
		if err == nil {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// replay applies one file's records to st. A bad record in the last file
// is a torn write: the file is cut there. In an earlier file it is
// corruption of acknowledged state, which no restart can repair.
func (w *wal) replay(seq uint64, st *walState, last bool) error {
	path := filepath.Join(w.dir, walName(seq))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("quorum: opening %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var good int64
	for {
		kind, payload, n, err := readRecord(r)
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = st.apply(kind, payload)
		}
		if err != nil {
			if !last {
				return fmt.Errorf("quorum: %s at byte %d: %w", path, good, err)
			}
			return truncateFile(path, good)
		}
		good += n
	}
}

var errBadRecord = errors.New("quorum: corrupt wal record")

func readRecord(r *bufio.Reader) (kind byte, payload []byte, n int64, err error) {
	var hdr [recordHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return 0, nil, 0, io.EOF
		}
		return 0, nil, 0, errBadRecord
	}
	length := binary.BigEndian.Uint32(hdr[:4])
	if length < 1 || length > maxRecordBytes {
		return 0, nil, 0, fmt.Errorf("%w: length %d", errBadRecord, length)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, 0, errBadRecord
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return 0, nil, 0, fmt.Errorf("%w: crc mismatch", errBadRecord)
	}
	return body[0], body[1:], int64(recordHeader + length), nil
}

func (st *walState) apply(kind byte, payload []byte) error {
	switch kind {
	case kindHardState:
		hs := &pb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("%w: hard state: %v", errBadRecord, err)
		}
		st.hard = hs
	case kindEntry:
		e := &pb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("%w: entry: %v", errBadRecord, err)
		}
		return st.addEntry(e)
	default:
		return fmt.Errorf("%w: kind %d", errBadRecord, kind)
	}
	return nil
}

// addEntry appends e, first dropping the entries at and after its index:
// raft overwrites an uncommitted tail that a new leader replaced. A gap
// after the snapshot or the last entry is corruption.
func (st *walState) addEntry(e *pb.Entry) error {
	snapIndex := st.snapshot.GetMetadata().GetIndex()
	if e.GetIndex() <= snapIndex {
		return nil
	}
	next := snapIndex + 1
	if n := len(st.entries); n > 0 {
		next = st.entries[n-1].GetIndex() + 1
	}
	if e.GetIndex() > next {
		return fmt.Errorf("%w: entry %d after %d", errBadRecord, e.GetIndex(), next-1)
	}
	if n := len(st.entries); n > 0 && e.GetIndex() < next {
		st.entries = st.entries[:max(0, int64(e.GetIndex())-int64(st.entries[0].GetIndex()))]
	}
	st.entries = append(st.entries, e)
	return nil
}

func truncateFile(path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("quorum: cutting torn tail of %s: %w", path, err)
	}
	return nil
}

func (w *wal) openForAppend(seq uint64) error {
	path := filepath.Join(w.dir, walName(seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("quorum: opening %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("quorum: %s: %w", path, err)
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.seq, w.size = f, seq, info.Size()
	return nil
}

// save appends entries and the hard state (when not empty), and fsyncs
// when sync is set, as raft's Ready.MustSync asks.
func (w *wal) save(hs *pb.HardState, entries []*pb.Entry, sync bool) error {
	w.buf = w.buf[:0]
	for _, e := range entries {
		w.buf = appendRecord(w.buf, kindEntry, e)
	}
	if hs != nil && !isEmptyHardState(hs) {
		w.buf = appendRecord(w.buf, kindHardState, hs)
	}
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("quorum: writing wal: %w", err)
	}
	w.size += int64(len(w.buf))
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("quorum: syncing wal: %w", err)
		}
	}
	return nil
}

func isEmptyHardState(hs *pb.HardState) bool {
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0
}

func appendRecord(b []byte, kind byte, m proto.Message) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHeader)...)
	b = append(b, kind)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		panic(fmt.Sprintf("quorum: encoding %T: %v", m, err)) // raft's own types always encode
	}
	body := b[start+recordHeader:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(body, crcTable))
	return b
}

// saveSnapshot makes snap durable, then starts a new WAL file holding the
// hard state and the entries after the snapshot, and removes the older
// files: the log no longer needs them to rebuild the state.
func (w *wal) saveSnapshot(snap *pb.Snapshot, hs *pb.HardState, after []*pb.Entry) error {
	if err := writeSnapshot(filepath.Join(w.dir, snapshotFile), snap); err != nil {
		return err
	}
	old := w.seq
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("quorum: closing wal: %w", err)
	}
	if err := w.openForAppend(old + 1); err != nil {
		return err
	}
	if err := w.save(hs, after, true); err != nil {
		return err
	}
	seqs, err := walFiles(w.dir)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s <= old {
			if err := os.Remove(filepath.Join(w.dir, walName(s))); err != nil {
				return fmt.Errorf("quorum: removing old wal: %w", err)
			}
		}
	}
	return atomicfile.SyncDir(w.dir)
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Snapshot file: magic, u16 version, u32 CRC-32C of the payload, payload
// (the protobuf raftpb.Snapshot).
func writeSnapshot(path string, snap *pb.Snapshot) error {
	payload, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("quorum: encoding snapshot: %w", err)
	}
	b := append([]byte(snapshotMagic), 0, snapshotVer, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(snapshotMagic)+2:], crc32.Checksum(payload, crcTable))
	if err := atomicfile.Write(path, append(b, payload...)); err != nil {
		return fmt.Errorf("quorum: writing snapshot: %w", err)
	}
	return nil
}

func readSnapshot(path string) (*pb.Snapshot, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quorum: reading snapshot: %w", err)
	}
	return decodeSnapshot(b)
}

func decodeSnapshot(b []byte) (*pb.Snapshot, error) {
	hdr := len(snapshotMagic) + 6
	if len(b) < hdr || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("quorum: snapshot file: bad header")
	}
	if v := binary.BigEndian.Uint16(b[len(snapshotMagic):]); v != snapshotVer {
		return nil, fmt.Errorf("quorum: snapshot file: unknown version %d", v)
	}
	if crc32.Checksum(b[hdr:], crcTable) != binary.BigEndian.Uint32(b[len(snapshotMagic)+2:]) {
		return nil, fmt.Errorf("quorum: snapshot file: crc mismatch")
	}
	snap := &pb.Snapshot{}
	if err := proto.Unmarshal(b[hdr:], snap); err != nil {
		return nil, fmt.Errorf("quorum: snapshot file: %w", err)
	}
	return snap, nil
}
