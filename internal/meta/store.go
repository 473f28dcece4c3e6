// Package meta owns the cluster metadata: the cluster ID, topics with their
// IDs, partitions (replicas, leader, epochs) and config overrides, the
// dynamic configs of BROKER and GROUP resources, and the users' SCRAM
// credentials (users.go). The definitions and
// validation of configs live in internal/config; the checks of admin
// requests and the choices records carry, in internal/controller.
//
// On a single node the Store persists its state in one file, rewritten
// whole on every change (docs/format/meta.md); a Raft log replaces that
// persistence when clusters arrive, behind the same methods. A reserve
// file beside it holds disk space back so that changes (deleting a topic
// to free space, above all) still succeed on a full disk.
//
// The metadata is an Image changed only by typed Records through a
// deterministic Apply (image.go, record.go, apply.go): the shape of a
// replicated state machine, whose records a controller proposes.
//
// Concurrency: every Store method is safe for concurrent use. Readers never
// wait for disk: the image is copy-on-write, and a change becomes visible
// only after it is durable. Subscribers are called in apply order.
package meta

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// Store is the metadata state machine with file persistence.
type Store struct {
	path string
	log  *slog.Logger
	node int32 // this node's id: the replica of partitions in old files
	// write atomically replaces the file at path; tests swap it to inject
	// failures.
	write func(path string, data []byte) error
	// reserve holds disk space back for writes on a full disk.
	reserve *atomicfile.Reserve

	// writeMu serialises changes: each one applies records to a clone of
	// the current image, writes it to disk, publishes it and tells the
	// subscribers. Holding it across the fsynced write is deliberate:
	// metadata changes are rare admin operations, and serialising them
	// keeps disk order equal to publish order. Readers take only mu, which
	// is never held across I/O.
	writeMu sync.Mutex
	// repl, when set, replicates changes instead of the state file
	// (replicated.go); nil on a standalone node.
	repl Log

	// subMu guards subs and orders calls to them: publishing takes it, so
	// subscribers see images in publish order whoever publishes (a writer
	// holding writeMu, or the quorum applying a committed change).
	subMu sync.Mutex
	subs  []func(prev, next *Image)

	mu struct {
		sync.RWMutex
		img *Image // published, durable, never mutated
	}
}

const (
	stateFile   = "state"
	reserveFile = "reserve"
	// minReserveStep is the least space one release of the reserve gives
	// back; a step also covers the state file plus slack.
	minReserveStep = 256 << 10
	reserveSteps   = 4
)

// Open loads the metadata in dir, creating dir and a new cluster ID on
// first use; node is this node's id, the replica of partitions described
// by files written before partitions had replicas. A damaged state file
// is an error wrapping ErrCorrupt; Open never guesses at a repair because
// topics and IDs are not recoverable from elsewhere.
func Open(dir string, node int32, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	s := &Store{path: filepath.Join(dir, stateFile), log: logger, node: node, write: atomicfile.Write}
	_ = os.Remove(s.path + ".tmp") // a write interrupted by a crash
	img, err := s.load()
	if err != nil {
		return nil, err
	}
	s.mu.img = img
	s.reserve = openReserve(dir, s.path, logger)
	return s, nil
}

// openReserve opens the disk-space reserve beside the state file, sized
// so that each of its steps can hold a rewrite of the state file
// (docs/format/meta.md).
func openReserve(dir, statePath string, logger *slog.Logger) *atomicfile.Reserve {
	const slack = 64 << 10
	step := int64(minReserveStep)
	if fi, err := os.Stat(statePath); err == nil {
		step = max(step, (fi.Size()/slack+2)*slack)
	}
	return atomicfile.OpenReserve(filepath.Join(dir, reserveFile), reserveSteps*step, step, logger)
}

// Reserve returns the disk-space reserve, for other writes that must
// succeed on a full disk (the checkpoints of deletes).
func (s *Store) Reserve() *atomicfile.Reserve { return s.reserve }

func (s *Store) load() (*Image, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.initialise()
	}
	if err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	img, err := decodeState(b, s.node)
	if err != nil {
		return nil, fmt.Errorf("meta: load %s: %w", s.path, err)
	}
	s.log.Info("metadata loaded", "path", s.path, "cluster_id", img.clusterID, "topics", len(img.topics))
	return img, nil
}

func (s *Store) initialise() (*Image, error) {
	img := NewImage(FormatID(NewID(nil)))
	if err := s.write(s.path, encodeState(img)); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	s.log.Info("new cluster", "path", s.path, "cluster_id", img.clusterID)
	return img, nil
}

// NewID returns a random ID the way Kafka's Uuid.randomUuid does: version 4
// bits, never zero, never Kafka's reserved metadata topic ID (0…01), never
// rendering with a leading '-' (it would read as a command-line flag), and
// never taken(id) (taken may be nil).
func NewID(taken func([16]byte) bool) [16]byte {
	reserved := [16]byte{15: 1}
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id == reserved || FormatID(id)[0] == '-' || taken != nil && taken(id) {
			continue
		}
		return id
	}
}

// Image returns the current image. It never changes; later changes
// publish new ones.
func (s *Store) Image() *Image {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.img
}

// Subscribe registers fn to be called after every applied batch with the
// images before and after it, in apply order. fn runs while changes are
// serialised, so it must be quick and must not change the Store.
func (s *Store) Subscribe(fn func(prev, next *Image)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.subs = append(s.subs, fn)
}

// Propose applies the records propose returns for the current image, as
// Apply does. propose runs while changes are serialised, so nothing
// changes the image between the checks it makes and the apply; an error
// from it is returned as is. It is how a controller validates a change
// against the image and turns it into records atomically.
func (s *Store) Propose(propose func(cur *Image) ([]Record, error)) (*Image, error) {
	return s.update(propose)
}

// Apply applies records, in order and all or none, persists the
// resulting image and publishes it. If a record does not fit or the write
// fails, nothing changes in memory and the file keeps the old image
// (atomicfile); a write failure wraps ErrStorage. On a full disk the
// write takes space from the reserve. The file is rewritten whole each
// time, so a later successful write repairs any doubt a failed one left.
func (s *Store) Apply(records ...Record) (*Image, error) {
	return s.update(func(*Image) ([]Record, error) { return records, nil })
}

func (s *Store) update(propose func(cur *Image) ([]Record, error)) (*Image, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev := s.Image()
	records, err := propose(prev)
	if err != nil {
		return nil, err
	}
	if s.repl != nil {
		return s.replicate(records)
	}
	next := prev.clone()
	for _, r := range records {
		if err := next.apply(r); err != nil {
			return nil, err
		}
	}
	data := encodeState(next)
	if err := s.reserve.Do(func() error { return s.write(s.path, data) }); err != nil {
		s.log.Error("metadata write failed", "path", s.path, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.publish(next)
	return next, nil
}

// publish makes next the current image and tells the subscribers.
func (s *Store) publish(next *Image) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	prev := s.mu.img
	s.mu.img = next
	s.mu.Unlock()
	for _, fn := range s.subs {
		fn(prev, next)
	}
}

// ClusterID returns the cluster's ID, fixed when the store was first
// created.
func (s *Store) ClusterID() string { return s.Image().clusterID }

// Topic returns the named topic.
func (s *Store) Topic(name string) (Topic, bool) { return s.Image().Topic(name) }

// TopicByID returns the topic with the given ID.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) { return s.Image().TopicByID(id) }

// Topics returns every topic, sorted by name.
func (s *Store) Topics() []Topic { return s.Image().Topics() }
