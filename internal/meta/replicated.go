package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// ErrNoQuorum wraps a change the metadata quorum did not confirm in time
// (no leader, or no majority): it may or may not have been applied.
var ErrNoQuorum = errors.New("meta: the metadata quorum did not confirm the change")

// Log replicates commands in one order across the cluster: the metadata
// quorum (internal/quorum.Node). Propose returns what the Store's Machine
// answered when it applied the command on this node.
type Log interface {
	Propose(ctx context.Context, cmd []byte) (any, error)
}

// ProposeTimeout bounds how long a change waits for the quorum.
const ProposeTimeout = 15 * time.Second

// OpenReplicated returns a Store for a node of a cluster: its image is
// the one Machine builds from the quorum's log, starting from an empty
// image of clusterID, and its changes are proposed to the log set by
// SetLog. dir holds only the disk-space reserve; the quorum keeps the
// metadata itself.
func OpenReplicated(dir string, node int32, clusterID string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	s := &Store{path: filepath.Join(dir, stateFile), log: logger, node: node}
	s.mu.img = NewImage(clusterID)
	s.reserve = openReserve(dir, s.path, logger)
	return s, nil
}

// SetLog makes s propose its changes to l. Call it before any change.
func (s *Store) SetLog(l Log) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.repl = l
}

// applied is what Machine.Apply answers a proposer.
type applied struct {
	img *Image
	err error
}

// replicate proposes records as one command and waits for this node to
// apply it. The caller holds writeMu, which the applying side never takes.
func (s *Store) replicate(records []Record) (*Image, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ProposeTimeout)
	defer cancel()
	res, err := s.repl.Propose(ctx, EncodeBatch(records))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	a, ok := res.(applied)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected answer %T", ErrNoQuorum, res)
	}
	return a.img, a.err
}

// Machine returns the state machine the quorum drives: it applies
// committed commands to s's image and publishes the result.
func (s *Store) Machine() *Machine { return &Machine{s: s} }

// Machine adapts a Store to the quorum's state machine interface. Its
// methods are called by the quorum's run goroutine only.
type Machine struct{ s *Store }

// Apply applies one committed batch of records, all or none. A batch that
// does not fit the image (two nodes proposed the same topic at once) is
// refused identically on every node, and the refusal goes to its proposer.
func (m *Machine) Apply(index uint64, cmd []byte) any {
	records, err := DecodeBatch(cmd)
	if err != nil {
		m.s.log.Error("undecodable metadata command", "index", index, "err", err)
		return applied{err: err}
	}
	next := m.s.Image().clone()
	for _, r := range records {
		if err := next.apply(r); err != nil {
			return applied{err: err}
		}
	}
	m.s.publish(next)
	return applied{img: next}
}

// Snapshot encodes the current image (the state file's format).
func (m *Machine) Snapshot() ([]byte, error) { return encodeState(m.s.Image()), nil }

// Restore replaces the image with a snapshot's.
func (m *Machine) Restore(data []byte) error {
	img, err := decodeState(data, m.s.node)
	if err != nil {
		return fmt.Errorf("meta: restoring snapshot: %w", err)
	}
	if img.clusterID != m.s.Image().clusterID {
		return fmt.Errorf("meta: snapshot of cluster %s, this node is in %s", img.clusterID, m.s.Image().clusterID)
	}
	m.s.publish(img)
	return nil
}

// EncodeBatch encodes records as one quorum command:
//
//	count uvarint | (length uvarint | record)*
func EncodeBatch(records []Record) []byte {
	b := binary.AppendUvarint(nil, uint64(len(records)))
	for _, r := range records {
		e := EncodeRecord(r)
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

// DecodeBatch parses what EncodeBatch wrote; defects wrap ErrInvalidRecord.
func DecodeBatch(b []byte) ([]Record, error) {
	r := &reader{b: b, class: ErrInvalidRecord}
	n := r.count(1)
	var out []Record
	for i := uint64(0); i < n && r.err == nil; i++ {
		body := r.bytes(int(r.count(1)))
		if r.err != nil {
			break
		}
		rec, err := DecodeRecord(body)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}
