package txn

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIDsNeverRepeatAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	for round := 0; round < 3; round++ {
		a, err := OpenIDAllocator(dir, -1)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < blockSize+5; i++ {
			id, err := a.Next()
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("round %d: id %d handed out twice", round, id)
			}
			seen[id] = true
		}
	}
}

func TestCorruptIDFileIsAnError(t *testing.T) {
	for name, content := range map[string][]byte{
		"short":    {0, 0, 0, 1},
		"bad crc":  append(encodeIDFile(5000)[:15], 0xff),
		"version":  append([]byte{0, 0, 0, 9}, encodeIDFile(5000)[4:]...),
		"negative": encodeIDFile(-1),
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "producer-ids"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenIDAllocator(dir, -1); err == nil {
			t.Errorf("%s: opened a corrupt file without error", name)
		}
	}
}

func FuzzDecodeIDFile(f *testing.F) {
	f.Add(encodeIDFile(1000))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := decodeIDFile(b)
		if err == nil && string(encodeIDFile(end)) != string(b) {
			t.Fatalf("decode(%x) = %d does not re-encode to the same bytes", b, end)
		}
	})
}

// TestFloorSkipsIDsLogsHold: a lost or restored file must not reissue an ID
// whose sequence state a partition log still holds.
func TestFloorSkipsIDsLogsHold(t *testing.T) {
	for name, setup := range map[string]func(dir string){
		"missing file": func(string) {},
		"older file": func(dir string) {
			if err := writeIDFile(filepath.Join(dir, "producer-ids"), 1000); err != nil {
				t.Fatal(err)
			}
		},
	} {
		dir := t.TempDir()
		setup(dir)
		a, err := OpenIDAllocator(dir, 4321)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id, err := a.Next(); err != nil || id != 4322 {
			t.Fatalf("%s: first id %d (%v), want 4322", name, id, err)
		}
		// The raised start is durable before it is used.
		b, err := OpenIDAllocator(dir, -1)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := b.Next(); id <= 4322 {
			t.Fatalf("%s: after reopen id %d, want above 4322", name, id)
		}
	}
}

// A block allocator hands out each block it is given, in order, and asks
// for the next only when one is used up.
func TestBlockAllocator(t *testing.T) {
	blocks := [][2]int64{{0, 2}, {10, 12}}
	asked := 0
	a := NewBlockAllocator(func() (int64, int64, error) {
		b := blocks[asked]
		asked++
		return b[0], b[1], nil
	})
	var got []int64
	for range 4 {
		id, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if want := []int64{0, 1, 10, 11}; !slices.Equal(got, want) || asked != 2 {
		t.Errorf("ids %v after %d blocks, want %v after 2", got, asked, want)
	}
}
