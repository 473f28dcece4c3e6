package quorum

import (
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

func entry(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hard(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func entryData(es []*pb.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.GetData()))
	}
	return out
}

func reopen(t *testing.T, w *wal, dir string) walState {
	t.Helper()
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	w2, st, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w2.close() })
	return st
}

func TestWALReplay(t *testing.T) {
	tests := []struct {
		name   string
		writes [][]*pb.Entry
		want   []string
	}{
		{"appends", [][]*pb.Entry{{entry(1, 1, "a"), entry(2, 1, "b")}, {entry(3, 1, "c")}}, []string{"a", "b", "c"}},
		{"new leader overwrites the tail", [][]*pb.Entry{{entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")}, {entry(2, 2, "B")}}, []string{"a", "B"}},
		{"overwrite then append", [][]*pb.Entry{{entry(1, 1, "a"), entry(2, 1, "b")}, {entry(2, 2, "B"), entry(3, 2, "C")}}, []string{"a", "B", "C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, err := openWAL(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, es := range tt.writes {
				if err := w.save(hard(uint64(i+1), 1, 1), es, true); err != nil {
					t.Fatal(err)
				}
			}
			st := reopen(t, w, dir)
			if got := entryData(st.entries); !equal(got, tt.want) {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
			if st.hard.GetTerm() != uint64(len(tt.writes)) {
				t.Errorf("hard state term %d, want the last saved %d", st.hard.GetTerm(), len(tt.writes))
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A torn last record (a crash mid-write) is cut off; what came before
// survives and appends continue after it.
func TestWALTornTail(t *testing.T) {
	dir := t.TempDir()
	w, _, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.save(hard(1, 1, 1), []*pb.Entry{entry(1, 1, "a")}, true); err != nil {
		t.Fatal(err)
	}
	good := w.size
	if err := w.save(nil, []*pb.Entry{entry(2, 1, "bbbbbbbb")}, true); err != nil {
		t.Fatal(err)
	}
	w.close()
	path := filepath.Join(dir, walName(1))
	for _, cut := range []int64{good + 3, good + 12, w.size - 1} {
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		w2, st, err := openWAL(dir)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if got := entryData(st.entries); !equal(got, []string{"a"}) {
			t.Errorf("cut at %d: entries %v, want [a]", cut, got)
		}
		if w2.size != good {
			t.Errorf("cut at %d: file continues at %d, want %d", cut, w2.size, good)
		}
		if err := w2.save(nil, []*pb.Entry{entry(2, 2, "c")}, true); err != nil {
			t.Fatal(err)
		}
		st = reopen(t, w2, dir)
		if got := entryData(st.entries); !equal(got, []string{"a", "c"}) {
			t.Errorf("cut at %d, then appended: entries %v", cut, got)
		}
		if err := os.Truncate(path, good); err != nil {
			t.Fatal(err)
		}
	}
}

// A bad record in a file that is not the last is acknowledged state lost:
// the member refuses to start rather than forget votes or entries.
func TestWALCorruptOlderFile(t *testing.T) {
	dir := t.TempDir()
	w, _, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.save(hard(1, 1, 1), []*pb.Entry{entry(1, 1, "a"), entry(2, 1, "b")}, true); err != nil {
		t.Fatal(err)
	}
	w.close()
	if err := os.WriteFile(filepath.Join(dir, walName(2)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, walName(1))
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 0xff
	os.WriteFile(path, b, 0o644)
	if _, _, err := openWAL(dir); err == nil {
		t.Fatal("opened a WAL whose older file is corrupt")
	}
}

// After a snapshot only the entries after it remain, in a new file; the
// older files are gone and a reopen gives snapshot plus tail.
func TestWALSnapshot(t *testing.T) {
	dir := t.TempDir()
	w, _, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	es := []*pb.Entry{entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")}
	if err := w.save(hard(1, 1, 3), es, true); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state@2"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(2)), Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := w.saveSnapshot(snap, hard(1, 1, 3), es[2:]); err != nil {
		t.Fatal(err)
	}
	if err := w.save(nil, []*pb.Entry{entry(4, 1, "d")}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, walName(1))); !os.IsNotExist(err) {
		t.Errorf("old wal file still there after the snapshot: %v", err)
	}
	st := reopen(t, w, dir)
	if string(st.snapshot.GetData()) != "state@2" || st.snapshot.GetMetadata().GetIndex() != 2 {
		t.Errorf("snapshot %q at %d", st.snapshot.GetData(), st.snapshot.GetMetadata().GetIndex())
	}
	if got := entryData(st.entries); !equal(got, []string{"c", "d"}) {
		t.Errorf("entries after snapshot %v, want [c d]", got)
	}
	if st.hard.GetCommit() != 3 {
		t.Errorf("commit %d, want 3", st.hard.GetCommit())
	}
}

func TestSnapshotFileCorrupt(t *testing.T) {
	snap := &pb.Snapshot{Data: []byte("x"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(2))}}
	path := filepath.Join(t.TempDir(), snapshotFile)
	if err := writeSnapshot(path, snap); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := decodeSnapshot(c); err == nil {
			t.Errorf("flipping byte %d of the snapshot file went unnoticed", i)
		}
	}
}

func FuzzWALRecords(f *testing.F) {
	var b []byte
	b = appendRecord(b, kindEntry, entry(1, 1, "a"))
	b = appendRecord(b, kindHardState, hard(1, 1, 1))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, walName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, st, err := openWAL(dir)
		if err != nil {
			t.Fatalf("the last file never stops the open: %v", err)
		}
		defer w.close()
		for i := 1; i < len(st.entries); i++ {
			if st.entries[i].GetIndex() != st.entries[i-1].GetIndex()+1 {
				t.Fatalf("entries not contiguous: %d after %d", st.entries[i].GetIndex(), st.entries[i-1].GetIndex())
			}
		}
	})
}
