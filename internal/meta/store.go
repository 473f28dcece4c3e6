// Package meta owns the cluster metadata: the cluster ID, topics with their
// IDs, partition counts and config overrides, and the dynamic configs of
// BROKER and GROUP resources. The definitions and validation of configs
// live in internal/config.
//
// On a single node the Store persists its state in one file, rewritten
// whole on every change (docs/format/meta.md); a Raft log replaces that
// persistence when clusters arrive, behind the same methods. A reserve
// file beside it holds disk space back so that changes (deleting a topic
// to free space, above all) still succeed on a full disk.
//
// Concurrency: every Store method is safe for concurrent use. Readers never
// wait for disk: the state is copy-on-write, and a change becomes visible
// only after it is durable.
package meta

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
	"github.com/eddy-streaming/eddy/internal/config"
)

// Topic is a topic's metadata.
type Topic struct {
	Name              string
	ID                [16]byte
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string // explicit overrides only; never nil
	Internal          bool
}

func (t Topic) clone() Topic {
	t.Configs = maps.Clone(t.Configs)
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	return t
}

// FormatID renders a topic or cluster ID as Kafka does: 22 characters of
// URL-safe base64 without padding.
func FormatID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// state is one immutable version of the metadata. Changes clone it.
type state struct {
	clusterID string
	topics    map[string]Topic
	byID      map[[16]byte]string
	// configs holds the dynamic configs of BROKER and GROUP resources
	// (configs.go); nil when there are none. Each inner map is replaced,
	// never modified.
	configs map[ConfigResource]map[string]string
}

func (st *state) clone() *state {
	return &state{clusterID: st.clusterID, topics: maps.Clone(st.topics), byID: maps.Clone(st.byID),
		configs: maps.Clone(st.configs)}
}

// addDecoded adds a topic read from disk, checking the invariants the
// Store keeps when it writes.
func (st *state) addDecoded(t Topic) error {
	switch {
	case ValidateTopicName(t.Name) != nil:
		return fmt.Errorf("invalid topic name %q", t.Name)
	case t.ID == [16]byte{}:
		return fmt.Errorf("topic %q: zero id", t.Name)
	case t.Partitions < 1 || t.ReplicationFactor < 1:
		return fmt.Errorf("topic %q: %d partitions, replication factor %d", t.Name, t.Partitions, t.ReplicationFactor)
	}
	if _, dup := st.topics[t.Name]; dup {
		return fmt.Errorf("duplicate topic %q", t.Name)
	}
	if _, dup := st.byID[t.ID]; dup {
		return fmt.Errorf("duplicate topic id %s", FormatID(t.ID))
	}
	st.put(t)
	return nil
}

func (st *state) put(t Topic) {
	st.topics[t.Name] = t
	st.byID[t.ID] = t.Name
}

// Store is the metadata state machine with file persistence.
type Store struct {
	path string
	log  *slog.Logger
	// write atomically replaces the file at path; tests swap it to inject
	// failures.
	write func(path string, data []byte) error
	// reserve holds disk space back for writes on a full disk.
	reserve *atomicfile.Reserve

	// writeMu serialises changes: each one clones the current state, edits
	// the clone, writes it to disk and then publishes it. Holding it across
	// the fsynced write is deliberate: metadata changes are rare admin
	// operations, and serialising them keeps disk order equal to publish
	// order. Readers take only mu, which is never held across I/O.
	writeMu sync.Mutex

	mu struct {
		sync.RWMutex
		st *state // published, durable, never mutated
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
// first use. A damaged state file is an error wrapping ErrCorrupt; Open
// never guesses at a repair because topics and IDs are not recoverable
// from elsewhere.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	s := &Store{path: filepath.Join(dir, stateFile), log: logger, write: atomicfile.Write}
	_ = os.Remove(s.path + ".tmp") // a write interrupted by a crash
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	s.mu.st = st
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

func (s *Store) load() (*state, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.initialise()
	}
	if err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("meta: load %s: %w", s.path, err)
	}
	s.log.Info("metadata loaded", "path", s.path, "cluster_id", st.clusterID, "topics", len(st.topics))
	return st, nil
}

func (s *Store) initialise() (*state, error) {
	st := &state{clusterID: FormatID(newID(nil)), topics: map[string]Topic{}, byID: map[[16]byte]string{}}
	if err := s.write(s.path, encodeState(st)); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	s.log.Info("new cluster", "path", s.path, "cluster_id", st.clusterID)
	return st, nil
}

// newID returns a random ID the way Kafka's Uuid.randomUuid does: version 4
// bits, never zero, never Kafka's reserved metadata topic ID (0…01), never
// rendering with a leading '-' (it would read as a command-line flag), and
// never one taken (may be nil).
func newID(taken map[[16]byte]string) [16]byte {
	reserved := [16]byte{15: 1}
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if _, dup := taken[id]; dup || id == reserved || FormatID(id)[0] == '-' {
			continue
		}
		return id
	}
}

func (s *Store) current() *state {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.st
}

// update applies fn to a copy of the state, persists the copy and
// publishes it. If fn or the write fails, nothing changes in memory and
// the file keeps the old state (atomicfile). On a full disk the write
// takes space from the reserve. The file is rewritten whole each time, so
// a later successful write repairs any doubt a failed one left on disk.
func (s *Store) update(fn func(st *state) (Topic, error)) (Topic, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	next := s.current().clone()
	t, err := fn(next)
	if err != nil {
		return Topic{}, err
	}
	data := encodeState(next)
	if err := s.reserve.Do(func() error { return s.write(s.path, data) }); err != nil {
		s.log.Error("metadata write failed", "path", s.path, "err", err)
		return Topic{}, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.mu.Lock()
	s.mu.st = next
	s.mu.Unlock()
	return t.clone(), nil
}

// ClusterID returns the cluster's ID, fixed when the store was first
// created.
func (s *Store) ClusterID() string { return s.current().clusterID }

// Topic returns the named topic.
func (s *Store) Topic(name string) (Topic, bool) {
	t, ok := s.current().topics[name]
	return t.clone(), ok
}

// TopicByID returns the topic with the given ID.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) {
	st := s.current()
	name, ok := st.byID[id]
	if !ok {
		return Topic{}, false
	}
	return st.topics[name].clone(), true
}

// Topics returns every topic, sorted by name.
func (s *Store) Topics() []Topic {
	st := s.current()
	out := make([]Topic, 0, len(st.topics))
	for _, name := range slices.Sorted(maps.Keys(st.topics)) {
		out = append(out, st.topics[name].clone())
	}
	return out
}

// CreateTopic adds a topic with a new random ID. Only replication factor 1
// is possible until replication exists.
func (s *Store) CreateTopic(name string, partitions int32, rf int16, configs map[string]string) (Topic, error) {
	if err := validateNewTopic(name, partitions, rf, configs); err != nil {
		return Topic{}, err
	}
	return s.update(func(st *state) (Topic, error) {
		if err := st.checkFree(name); err != nil {
			return Topic{}, err
		}
		t := Topic{Name: name, ID: newID(st.byID), Partitions: partitions, ReplicationFactor: rf,
			Configs: maps.Clone(configs), Internal: IsInternalTopic(name)}
		st.put(t.clone())
		return t, nil
	})
}

// ValidateCreateTopic checks everything CreateTopic would, against the
// current state, without creating anything (CreateTopics validate_only).
// The returned Topic has a zero ID.
func (s *Store) ValidateCreateTopic(name string, partitions int32, rf int16, configs map[string]string) (Topic, error) {
	if err := validateNewTopic(name, partitions, rf, configs); err != nil {
		return Topic{}, err
	}
	if err := s.current().checkFree(name); err != nil {
		return Topic{}, err
	}
	t := Topic{Name: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs, Internal: IsInternalTopic(name)}
	return t.clone(), nil
}

// checkFree reports whether a topic called name may be created.
func (st *state) checkFree(name string) error {
	if _, ok := st.topics[name]; ok {
		return fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	if other, ok := st.collision(name); ok {
		return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", ErrInvalidTopic, name, other)
	}
	return nil
}

func validateNewTopic(name string, partitions int32, rf int16, configs map[string]string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	if partitions < 1 || partitions > MaxPartitions {
		return fmt.Errorf("%w: %d, must be 1 to %d", ErrInvalidPartitions, partitions, MaxPartitions)
	}
	if rf != 1 {
		return fmt.Errorf("%w: %d, must be 1 on a single-node cluster", ErrInvalidReplicationFactor, rf)
	}
	return config.ValidateTopicConfigs(configs)
}

// collision returns an existing topic whose name differs from name only by
// '.' versus '_'.
func (st *state) collision(name string) (string, bool) {
	key := collisionKey(name)
	for other := range st.topics {
		if collisionKey(other) == key {
			return other, true
		}
	}
	return "", false
}

// DeleteTopic removes a topic and returns what it was.
func (s *Store) DeleteTopic(name string) (Topic, error) {
	return s.update(func(st *state) (Topic, error) {
		t, ok := st.topics[name]
		if !ok {
			return Topic{}, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
		}
		delete(st.topics, name)
		delete(st.byID, t.ID)
		return t, nil
	})
}

// CreatePartitions raises a topic's partition count to total.
func (s *Store) CreatePartitions(name string, total int32) (Topic, error) {
	return s.update(func(st *state) (Topic, error) {
		t, ok := st.topics[name]
		if !ok {
			return Topic{}, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
		}
		if err := ValidatePartitionGrowth(t, total); err != nil {
			return Topic{}, err
		}
		t.Partitions = total
		st.put(t)
		return t, nil
	})
}

// MaxPartitions bounds one topic's partitions, as KRaft bounds the records of
// one operation: each partition is a directory of open files, and a single
// request must not be able to exhaust the disk or stall the broker.
const MaxPartitions = 10000

// ValidatePartitionGrowth checks that t may grow to total partitions.
func ValidatePartitionGrowth(t Topic, total int32) error {
	if total <= t.Partitions {
		return fmt.Errorf("%w: topic %q has %d partitions, asked for %d; the count can only grow",
			ErrInvalidPartitions, t.Name, t.Partitions, total)
	}
	if total > MaxPartitions {
		return fmt.Errorf("%w: %d, at most %d", ErrInvalidPartitions, total, MaxPartitions)
	}
	return nil
}

// SetTopicConfigs replaces all of a topic's config overrides.
func (s *Store) SetTopicConfigs(name string, overrides map[string]string) (Topic, error) {
	if err := config.ValidateTopicConfigs(overrides); err != nil {
		return Topic{}, err
	}
	return s.update(func(st *state) (Topic, error) {
		t, ok := st.topics[name]
		if !ok {
			return Topic{}, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
		}
		t.Configs = maps.Clone(overrides)
		t = t.clone() // never nil
		st.put(t)
		return t, nil
	})
}
