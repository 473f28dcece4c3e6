package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/config"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStorePersistsAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta") // Open creates it
	s := openStore(t, dir)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(s.ClusterID()) || s.ClusterID()[0] == '-' {
		t.Fatalf("cluster id %q is not 22 characters of URL-safe base64", s.ClusterID())
	}
	mustCreate(t, s, "orders", 3, map[string]string{"retention.ms": "1000"})
	mustCreate(t, s, "gone", 1, nil)
	mustCreate(t, s, ConsumerOffsetsTopic, 50, map[string]string{"cleanup.policy": "compact"})
	mustApply(t, s, growRecords(s, "orders", 5)...)
	mustApply(t, s, topicConfigs("orders", map[string]string{"segment.bytes": "4096"}))
	mustApply(t, s, removeRecord(s, "gone"))

	r := openStore(t, dir)
	if r.ClusterID() != s.ClusterID() {
		t.Errorf("cluster id changed: %s then %s", s.ClusterID(), r.ClusterID())
	}
	if got, want := r.Topics(), s.Topics(); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	o, _ := r.Topic("orders")
	if o.Partitions != 5 || len(o.Assignments) != 5 || !maps.Equal(o.Configs, map[string]string{"segment.bytes": "4096"}) || o.Internal {
		t.Errorf("orders = %+v", o)
	}
	if byID, ok := r.TopicByID(o.ID); !ok || byID.Name != "orders" {
		t.Errorf("TopicByID = %+v, %v", byID, ok)
	}
	if co, _ := r.Topic(ConsumerOffsetsTopic); !co.Internal {
		t.Error("__consumer_offsets not internal")
	}
	if _, ok := r.Topic("gone"); ok {
		t.Error("deleted topic came back")
	}
}

func mustCreate(t *testing.T, s *Store, name string, partitions int32, cfg map[string]string) Topic {
	t.Helper()
	rec := topicRecord(name, partitions, cfg)
	mustApply(t, s, rec)
	return rec.Topic()
}

func mustApply(t *testing.T, s *Store, records ...Record) {
	t.Helper()
	if _, err := s.Apply(records...); err != nil {
		t.Fatal(err)
	}
}

// topicRecord creates a topic on node 1, as a controller would propose.
func topicRecord(name string, partitions int32, cfg map[string]string) TopicRecord {
	r := TopicRecord{ID: NewID(nil), Name: name, ReplicationFactor: 1, Internal: IsInternalTopic(name), Configs: cfg}
	for range partitions {
		r.Partitions = append(r.Partitions, LocalPartition(1))
	}
	return r
}

func removeRecord(s *Store, name string) RemoveTopicRecord {
	tp, _ := s.Topic(name)
	return RemoveTopicRecord{ID: tp.ID}
}

func growRecords(s *Store, name string, total int32) []Record {
	tp, _ := s.Topic(name)
	var out []Record
	for i := tp.Partitions; i < total; i++ {
		out = append(out, PartitionRecord{TopicID: tp.ID, Index: i, Partition: LocalPartition(1)})
	}
	return out
}

func topicConfigs(name string, cfg map[string]string) ConfigRecord {
	return ConfigRecord{Type: kmsg.ConfigResourceTypeTopic, Name: name, Configs: cfg}
}

func TestStoreErrors(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, "a.b", 2, nil)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"exists", second(s.Apply(topicRecord("a.b", 1, nil))), ErrTopicExists},
		{"bad name", second(s.Apply(topicRecord("a b", 1, nil))), ErrInvalidRecord},
		{"zero partitions", second(s.Apply(topicRecord("x", 0, nil))), ErrInvalidRecord},
		{"delete unknown", second(s.Apply(RemoveTopicRecord{ID: [16]byte{1}})), ErrUnknownTopic},
		{"partition gap", second(s.Apply(growRecords(s, "a.b", 4)[1])), ErrInvalidPartitions},
		{"grow unknown", second(s.Apply(PartitionRecord{TopicID: [16]byte{1}, Partition: LocalPartition(1)})), ErrUnknownTopic},
		{"configs unknown topic", second(s.Apply(topicConfigs("x", nil))), ErrUnknownTopic},
		{"configs of a cluster", second(s.Apply(ConfigRecord{Type: kmsg.ConfigResourceTypeBrokerLogger})), config.ErrInvalidConfig},
		{"all or none", second(s.Apply(topicRecord("x", 1, nil), topicRecord("x", 1, nil))), ErrTopicExists},
		{"ok", second(s.Apply(topicRecord("y", 1, nil))), nil},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil) != (tc.err == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, ok := s.Topic("x"); ok || len(s.Topics()) != 2 {
		t.Errorf("failed operations changed the store: %+v", s.Topics())
	}
}

func second(_ *Image, err error) error { return err }

func TestStoreReturnsCopies(t *testing.T) {
	s := openStore(t, t.TempDir())
	cfg := map[string]string{"retention.ms": "1"}
	tp := mustCreate(t, s, "t", 1, cfg)
	cfg["retention.ms"] = "2"
	tp.Configs["retention.ms"] = "3"
	if got, _ := s.Topic("t"); got.Configs["retention.ms"] != "1" {
		t.Errorf("caller's maps alias the store: %v", got.Configs)
	}
}

func TestStoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, "t", 1, nil)
	path := filepath.Join(dir, stateFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := append([]byte(nil), good...); b[i] ^= 0x40; return b }
	for name, data := range map[string][]byte{
		"empty":       {},
		"truncated":   good[:len(good)-1],
		"bad magic":   flip(0),
		"bad version": flip(5),
		"bad length":  flip(9),
		"bad body":    flip(headerLen + 3),
		"bad crc":     flip(len(good) - 1),
		"appended":    append(append([]byte(nil), good...), 0),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, 1, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestStoreFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, "t", 1, nil)
	s.write = func(string, []byte) error { return errors.New("disk full") }
	if _, err := s.Apply(topicRecord("u", 1, nil)); err == nil {
		t.Fatal("create succeeded despite failed write")
	}
	if _, err := s.Apply(removeRecord(s, "t")); err == nil {
		t.Fatal("delete succeeded despite failed write")
	}
	if names := topicNames(s); !reflect.DeepEqual(names, []string{"t"}) {
		t.Errorf("in memory: %v", names)
	}
	if names := topicNames(openStore(t, dir)); !reflect.DeepEqual(names, []string{"t"}) {
		t.Errorf("on disk: %v", names)
	}
}

func topicNames(s *Store) []string {
	var out []string
	for _, t := range s.Topics() {
		out = append(out, t.Name)
	}
	return out
}

// TestStoreConcurrent runs writers and readers together under -race.
func TestStoreConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("w%d-%d", w, i)
				tp := topicRecord(name, 1, nil)
				if _, err := s.Apply(tp); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Apply(topicConfigs(name, map[string]string{"retention.ms": "5"})); err != nil {
					t.Error(err)
				}
				if got, ok := s.TopicByID(tp.ID); !ok || got.Name != name {
					t.Errorf("TopicByID(%s) = %v, %v", name, got, ok)
				}
			}
		})
		wg.Go(func() {
			for range 50 {
				for _, tp := range s.Topics() {
					_ = tp.Configs["retention.ms"]
				}
			}
		})
	}
	wg.Wait()
	if n := len(s.Topics()); n != 40 {
		t.Errorf("%d topics, want 40", n)
	}
}

// TestStoreDiskFull writes metadata on a disk that is full until the
// reserve gives space back: the change succeeds on the released space.
// Once the reserve is used up, a change fails with ErrStorage and changes
// nothing, in memory or on disk.
func TestStoreDiskFull(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, "t", 1, nil)
	full := s.reserve.Held()
	if full < reserveSteps*minReserveStep {
		t.Fatalf("reserve holds %d bytes, want at least %d", full, reserveSteps*minReserveStep)
	}
	write := s.write
	room := full - 1 // the disk has room once the reserve shrank below this
	s.write = func(path string, data []byte) error {
		if fi, err := os.Stat(filepath.Join(dir, reserveFile)); err != nil || fi.Size() > room {
			return &os.PathError{Op: "write", Path: path + ".tmp", Err: syscall.ENOSPC}
		}
		return write(path, data)
	}
	if _, err := s.Apply(topicRecord("u", 1, nil)); err != nil {
		t.Fatalf("creating a topic on a full disk: %v", err)
	}
	if got := s.reserve.Held(); got >= full {
		t.Fatalf("reserve holds %d bytes after a write on a full disk, want less than %d", got, full)
	}

	room = -1 // nothing the reserve gives back is enough
	_, err := s.Apply(removeRecord(s, "t"))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("removing a topic = %v, want ErrStorage and ENOSPC", err)
	}
	if _, err := s.Apply(topicConfigs("t", map[string]string{"retention.ms": "1000"})); !errors.Is(err, ErrStorage) {
		t.Fatalf("setting topic configs = %v, want ErrStorage", err)
	}
	if names := topicNames(s); !reflect.DeepEqual(names, []string{"t", "u"}) {
		t.Errorf("in memory: %v", names)
	}
	s.write = write
	reopened := openStore(t, dir)
	if names := topicNames(reopened); !reflect.DeepEqual(names, []string{"t", "u"}) {
		t.Errorf("on disk: %v", names)
	}
	if tp, _ := reopened.Topic("t"); len(tp.Configs) != 0 {
		t.Errorf("configs on disk after a failed change: %v", tp.Configs)
	}
	if got := reopened.reserve.Held(); got != full {
		t.Errorf("reopened reserve holds %d bytes, want it refilled to %d", got, full)
	}
}

// TestStoreUpgradesOldFile opens a data directory written before version
// 3: it loads, and the first change rewrites it as version 3 with the
// partitions on the node that opened it.
func TestStoreUpgradesOldFile(t *testing.T) {
	dir := t.TempDir()
	old, err := os.ReadFile(filepath.Join("testdata", "state-v2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "new", 1, nil)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != formatVersion {
		t.Errorf("rewritten as version %d, want %d", v, formatVersion)
	}
	r, err := Open(dir, 7, nil) // the partitions stay where version 3 put them
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := r.Topic("orders"); o.Partitions != 6 || !reflect.DeepEqual(o.Assignments[5], LocalPartition(3)) {
		t.Errorf("orders after upgrade: %+v", o)
	}
	if got := r.Configs(ConfigResource{kmsg.ConfigResourceTypeBroker, "1"}); got["message.max.bytes"] != "2000000" {
		t.Errorf("broker configs after upgrade: %v", got)
	}
}
