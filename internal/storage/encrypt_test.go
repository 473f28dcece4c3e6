package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustKeyring(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys...)
	must(t, err)
	return k
}

func openEncrypted(t testing.TB, dir string, keys *Keyring) (*Manager, error) {
	t.Helper()
	return Open(context.Background(), Config{Dir: dir, Logger: testLogger(t), RetentionCheckInterval: time.Hour, Keys: keys, CleanerThreads: -1, plain: keys == nil})
}

// markerBatch is a batch whose keys, values and headers all hold marker.
func markerBatch(marker string, i int, o recordtest.Options) []byte {
	recs := []record.Record{{
		Key:     []byte(fmt.Sprintf("%s-key-%d", marker, i%3)),
		Value:   []byte(fmt.Sprintf("%s-value-%d", marker, i)),
		Headers: []record.Header{{Key: marker + "-hk", Value: []byte(marker + "-hv")}},
	}}
	return recordtest.Batch(o, recs)
}

// grepDir fails if any file under dir holds s.
func grepDir(t testing.TB, dir, s string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a .deleted file the deleter just removed
		}
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q in plain text", path, s)
		}
		return nil
	})
	must(t, err)
}

// hashDir returns the SHA-256 of every file under dir, by path.
func hashDir(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = sha256.Sum256(b)
		return err
	})
	must(t, err)
	return out
}

func sameHashes(t testing.TB, a, b map[string][32]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d files, want %d", len(b), len(a))
	}
	for p, h := range a {
		if b[p] != h {
			t.Fatalf("%s changed", p)
		}
	}
}

// readAllBytes returns the bytes of every batch read from the log start.
func readAllBytes(t testing.TB, l *Log) []byte {
	t.Helper()
	var out []byte
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		res, err := l.Read(off, 64<<10, true)
		must(t, err)
		if len(res.Chunks) == 0 {
			break
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			out = append(out, b...)
			for len(b) > 0 {
				h := mustHeader(t, b)
				if _, err := record.ValidateStored(b[:h.Size()]); err != nil {
					t.Fatalf("read invalid batch at %d: %v", h.BaseOffset, err)
				}
				off = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
		res.Release()
	}
	return out
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, testKey(1))
	for _, o := range []recordtest.Options{{}, {Codec: record.Zstd}, {Producer: &recordtest.Producer{ID: 7, Epoch: 2}, Transactional: true}} {
		plain := markerBatch("round", 1, o)
		record.SetBaseOffset(plain, 1234)
		st := k.seal(nil, plain)
		if len(st) != len(plain)+envelopeOverhead || bytes.Contains(st, []byte("round")) {
			t.Fatalf("sealed %d bytes from %d, or holds the plain text", len(st), len(plain))
		}
		sh := mustHeader(t, st)
		ph := mustHeader(t, plain)
		if !isEncrypted(sh) || sh.BaseOffset != 1234 || sh.ProducerID != ph.ProducerID || wireHeader(sh) != withCRC(ph, sh.CRC) {
			t.Fatalf("stored header %+v for %+v", sh, ph)
		}
		got, err := k.open(nil, st)
		must(t, err)
		if !bytes.Equal(got, plain) {
			t.Fatal("open(seal(b)) != b")
		}
		inPlace, err := k.openInPlace(bytes.Clone(st))
		must(t, err)
		if !bytes.Equal(inPlace, plain) {
			t.Fatal("openInPlace(seal(b)) != b")
		}
	}
}

func withCRC(h record.BatchHeader, crc uint32) record.BatchHeader { h.CRC = crc; return h }

// Every byte of a unit is covered: by the CRC (torn or damaged bytes are
// corruption) or, for the base offset, length and leader epoch, by the tag.
func TestOpenDetectsDamage(t *testing.T) {
	k := mustKeyring(t, testKey(1))
	st := k.seal(nil, markerBatch("dmg", 1, recordtest.Options{}))
	for i := range st {
		b := bytes.Clone(st)
		b[i] ^= 0x01
		if _, err := k.open(nil, b); !errors.Is(err, record.ErrCorrupt) && !errors.Is(err, record.ErrInvalid) {
			t.Fatalf("byte %d flipped: %v, want corruption", i, err)
		}
	}
	for n := range len(st) {
		if _, err := k.open(nil, st[:n]); err == nil || errors.Is(err, errNoKey) {
			t.Fatalf("torn at %d: %v, want corruption", n, err)
		}
	}
	other := mustKeyring(t, testKey(2))
	if _, err := other.open(nil, st); !errors.Is(err, errNoKey) {
		t.Fatalf("wrong key: %v, want errNoKey", err)
	}
	var none *Keyring
	if _, err := none.open(nil, st); !errors.Is(err, errNoKey) {
		t.Fatalf("no key: %v, want errNoKey", err)
	}
}

func TestParseKeys(t *testing.T) {
	hexKey := strings.Repeat("ab", KeySize)
	tests := []struct {
		name, in string
		keys     int
		ok       bool
	}{
		{"one", hexKey + "\n", 1, true},
		{"comments and blanks", "# rotation\n\n" + hexKey + "\n  \n# old\n" + strings.Repeat("cd", KeySize), 2, true},
		{"short", hexKey[:62], 0, false},
		{"not hex", strings.Repeat("zz", KeySize), 0, false},
		{"empty", "# nothing\n", 0, false},
		{"repeated", hexKey + "\n" + hexKey, 0, false},
	}
	for _, tt := range tests {
		k, err := ParseKeys([]byte(tt.in))
		if tt.ok != (err == nil) || err == nil && len(k.IDs()) != tt.keys {
			t.Errorf("%s: %v, %d keys", tt.name, err, len(k.IDs()))
		}
		if err != nil && !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v does not wrap ErrKeyFile", tt.name, err)
		}
	}
}

// The marker produced never reaches the disk in plain text, every record
// comes back byte for byte after a restart with the key, and a wrong or
// missing key is refused without changing a file.
func TestEncryptedLogAtRest(t *testing.T) {
	dir := t.TempDir()
	keys := mustKeyring(t, testKey(1))
	m, err := openEncrypted(t, dir, keys)
	must(t, err)
	l := createLog(t, m, smallConfig())
	for i := range 200 {
		mustAppend(t, l, markerBatch("SECRETMARK", i, recordtest.Options{Codec: record.Codec(i % 2)}), i%50 == 0)
	}
	want := readAllBytes(t, l)
	must(t, m.Close())
	grepDir(t, dir, "SECRETMARK")

	before := hashDir(t, dir)
	for name, k := range map[string]*Keyring{"wrong key": mustKeyring(t, testKey(2)), "no key": nil} {
		if _, err := openEncrypted(t, dir, k); !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("%s: Open: %v, want ErrKeyMismatch", name, err)
		}
		sameHashes(t, before, hashDir(t, dir))
	}
	// A lost key check file: the segments still name their key.
	must(t, os.Rename(filepath.Join(dir, keyCheckFile), filepath.Join(t.TempDir(), "saved")))
	if _, err := openEncrypted(t, dir, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("no key and no key check file: %v, want ErrKeyMismatch", err)
	}

	m, err = openEncrypted(t, dir, keys)
	must(t, err)
	defer m.Close()
	if got := readAllBytes(t, m.Log("t", 0)); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes after restart, want the %d read before", len(got), len(want))
	}
}

// Plain data written before encryption was on stays readable next to
// encrypted data, even within one segment.
func TestPlainDataStaysReadable(t *testing.T) {
	dir := t.TempDir()
	m, err := openEncrypted(t, dir, nil)
	must(t, err)
	lc := smallConfig()
	lc.SegmentBytes = 1 << 20
	l := createLog(t, m, lc)
	for i := range 10 {
		mustAppend(t, l, markerBatch("OLDPLAIN", i, recordtest.Options{}), false)
	}
	must(t, m.Close())
	m, err = openEncrypted(t, dir, mustKeyring(t, testKey(1)))
	must(t, err)
	l = m.Log("t", 0)
	for i := range 10 {
		mustAppend(t, l, markerBatch("NEWSECRET", i, recordtest.Options{}), false)
	}
	got := readAllBytes(t, l)
	if !bytes.Contains(got, []byte("OLDPLAIN")) || !bytes.Contains(got, []byte("NEWSECRET")) {
		t.Fatal("read lost old plain or new encrypted records")
	}
	must(t, m.Close())
	grepDir(t, dir, "NEWSECRET")
	if _, err := openEncrypted(t, dir, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("turning encryption off: %v, want ErrKeyMismatch", err)
	}
}

// A torn encrypted tail is truncated by recovery, as a torn plain one is.
func TestEncryptedTornTailRecovery(t *testing.T) {
	dir := t.TempDir()
	keys := mustKeyring(t, testKey(1))
	m, err := openEncrypted(t, dir, keys)
	must(t, err)
	lc := smallConfig()
	lc.SegmentBytes = 1 << 20
	l := createLog(t, m, lc)
	for i := range 20 {
		mustAppend(t, l, markerBatch("TORN", i, recordtest.Options{}), true)
	}
	sizeBefore := l.Size()
	mustAppend(t, l, markerBatch("TORN", 99, recordtest.Options{}), false)
	crash(t, m)
	seg := filepath.Join(dir, "t-0", segmentName(0, logExt))
	// Cut the last batch in the middle of its ciphertext.
	must(t, os.Truncate(seg, sizeBefore+100))
	m, err = openEncrypted(t, dir, keys)
	must(t, err)
	defer m.Close()
	l = m.Log("t", 0)
	if l.LogEndOffset() != 20 || l.Size() != sizeBefore {
		t.Fatalf("recovered end %d size %d, want 20 and %d", l.LogEndOffset(), l.Size(), sizeBefore)
	}
	if n := len(readBatches(t, l, 0)); n != 20 {
		t.Fatalf("read %d batches, want 20", n)
	}
	mustAppend(t, l, markerBatch("TORN", 21, recordtest.Options{}), true)
}

// A batch whose tag fails after open is never served: the log goes
// offline.
func TestEncryptedDamageNeverServed(t *testing.T) {
	dir := t.TempDir()
	keys := mustKeyring(t, testKey(1))
	m, err := openEncrypted(t, dir, keys)
	must(t, err)
	l := createLog(t, m, smallConfig())
	for i := range 5 {
		mustAppend(t, l, markerBatch("DMG", i, recordtest.Options{}), true)
	}
	seg := filepath.Join(dir, "t-0", segmentName(0, logExt))
	b, err := os.ReadFile(seg)
	must(t, err)
	h := mustHeader(t, b)
	// Flip a ciphertext byte and fix the stored CRC: only the tag can tell.
	b[h.Size()-20] ^= 0xff
	fixStoredCRC(b[:h.Size()])
	must(t, os.WriteFile(seg, b, 0o644))
	_, err = l.Read(0, 1<<20, true)
	if !errors.Is(err, ErrLogCorrupt) || l.Offline() == nil {
		t.Fatalf("read of a forged unit: %v, want the log offline", err)
	}
	must(t, m.Close())
}

func fixStoredCRC(st []byte) {
	binary.BigEndian.PutUint32(st[offStoredCRC:], crcOf(st[offStoredAttr:]))
}

// Compaction rewrites an encrypted log encrypted: the marker is found
// nowhere after cleaning, and the latest value of every key is read back.
func TestEncryptedCompaction(t *testing.T) {
	dir := t.TempDir()
	keys := mustKeyring(t, testKey(1))
	m, err := openEncrypted(t, dir, keys)
	must(t, err)
	defer m.Close()
	lc := compactConfig()
	l := createLog(t, m, lc)
	want := map[string]string{}
	for i := range 300 {
		k, v := fmt.Sprintf("CMPKEY%03d", i%20), fmt.Sprintf("CMPVAL%05d", i)
		mustAppend(t, l, recordtest.Batch(recordtest.Options{Codec: record.Codec(i % 5)}, []record.Record{{Key: []byte(k), Value: []byte(v)}}), false)
		want[k] = v
	}
	must(t, l.requestRoll(context.Background()))
	if !m.cleaner.cleanOne(context.Background()) {
		t.Fatal("nothing cleaned")
	}
	if st := m.CleanerStats(); st.RecordsRemoved == 0 {
		t.Fatalf("cleaner removed nothing: %+v", st)
	}
	got := logTable(t, l)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after cleaning read %v, want %v", got, want)
	}
	grepDir(t, dir, "CMPKEY")
	grepDir(t, dir, "CMPVAL")
}

// A follower encrypts what it fetched in clear with its own key.
func TestFollowerEncrypts(t *testing.T) {
	leaderDir, followerDir := t.TempDir(), t.TempDir()
	lm, err := openEncrypted(t, leaderDir, mustKeyring(t, testKey(1)))
	must(t, err)
	defer lm.Close()
	fm, err := openEncrypted(t, followerDir, mustKeyring(t, testKey(2)))
	must(t, err)
	defer fm.Close()
	ll, fl := createLog(t, lm, smallConfig()), createLog(t, fm, smallConfig())
	for i := range 30 {
		mustAppend(t, ll, markerBatch("REPL", i, recordtest.Options{}), false)
	}
	for off := int64(0); off < ll.LogEndOffset(); {
		res, err := ll.ReadReplica(off, 4096, true)
		must(t, err)
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			if _, err := fl.AppendAsFollower(context.Background(), b, AppendOptions{}); err != nil {
				t.Fatalf("AppendAsFollower: %v", err)
			}
		}
		res.Release()
		off = fl.LogEndOffset()
	}
	if !bytes.Equal(readAllBytes(t, fl), readAllBytes(t, ll)) {
		t.Fatal("follower reads differ from the leader's")
	}
	grepDir(t, followerDir, "REPL")
	// A batch carrying the stored-only bit is refused from a leader.
	b := markerBatch("REPL", 0, recordtest.Options{})
	record.SetBaseOffset(b, fl.LogEndOffset())
	b[offStoredAttr] |= attrEncrypted >> 8
	if _, err := fl.AppendAsFollower(context.Background(), b, AppendOptions{}); !errors.Is(err, record.ErrInvalid) {
		t.Fatalf("batch with the encrypted bit: %v, want ErrInvalid", err)
	}
}

// FuzzOpenUnit: no input makes the unit decoder panic or hand out bytes
// that fail authentication, and open(seal(b)) == b for every valid batch.
func FuzzOpenUnit(f *testing.F) {
	k := mustKeyring(f, testKey(1))
	plain := markerBatch("fuzz", 1, recordtest.Options{})
	f.Add(k.seal(nil, plain), false)
	f.Add(plain, true)
	f.Add(k.seal(nil, recordtest.Batch(recordtest.Options{Codec: record.Snappy}, recordtest.Values(3, 10))), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		if seal {
			if _, err := record.ValidateStored(b); err != nil || isEncrypted(mustHeader(t, b)) {
				return
			}
			got, err := k.open(nil, k.seal(nil, b))
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("open(seal(b)) = %v, want b", err)
			}
			return
		}
		got, err := k.open(nil, b)
		if err == nil && (len(got) != len(b)-envelopeOverhead || !bytes.Equal(k.seal(nil, got)[:record.HeaderSize-44], b[:record.HeaderSize-44])) {
			t.Fatalf("opened %d bytes from %d", len(got), len(b))
		}
		got2, err2 := k.openInPlace(bytes.Clone(b))
		// openInPlace skips the stored CRC, which the tag covers anyway.
		if err == nil && (err2 != nil || !bytes.Equal(got, got2)) {
			t.Fatalf("openInPlace refused what open took: %v", err2)
		}
		if _, _, err := openBatches(k, bytes.Clone(b)); err == nil && len(b) > 0 && isEncrypted(mustHeader(t, b)) && err2 != nil {
			t.Fatalf("openBatches took a unit open refused: %v", err2)
		}
	})
}

// Rotation: data under key A, then key B first; Reencrypt moves every
// segment (plain ones too) to B, after which A can go.
func TestReencryptRotation(t *testing.T) {
	dir := t.TempDir()
	a, b := testKey(1), testKey(2)
	write := func(keys *Keyring, marker string, n int) {
		m, err := openEncrypted(t, dir, keys)
		must(t, err)
		l := m.Log("t", 0)
		if l == nil {
			l = createLog(t, m, smallConfig())
		}
		for i := range n {
			mustAppend(t, l, markerBatch(marker, i, recordtest.Options{Codec: record.Codec(i % 3)}), false)
		}
		must(t, m.Close())
	}
	write(nil, "PLAINMARK", 30)
	write(mustKeyring(t, a), "AMARK", 30)
	write(mustKeyring(t, b, a), "BMARK", 30)
	if _, err := openEncrypted(t, dir, mustKeyring(t, b)); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("old key dropped before reencrypt: %v, want ErrKeyMismatch", err)
	}
	m, err := openEncrypted(t, dir, mustKeyring(t, b, a))
	must(t, err)
	want := readAllBytes(t, m.Log("t", 0))
	must(t, m.Close())

	if _, err := Reencrypt(context.Background(), dir, mustKeyring(t, b), testLogger(t)); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("reencrypt without the old key: %v, want ErrKeyMismatch", err)
	}
	st, err := Reencrypt(context.Background(), dir, mustKeyring(t, b, a), testLogger(t))
	must(t, err)
	if st.Rewritten == 0 || st.Rewritten > st.Segments {
		t.Fatalf("reencrypt stats %+v", st)
	}
	grepDir(t, dir, "PLAINMARK")
	again, err := Reencrypt(context.Background(), dir, mustKeyring(t, b, a), testLogger(t))
	must(t, err)
	if again.Rewritten != 0 {
		t.Fatalf("second reencrypt rewrote %d segments", again.Rewritten)
	}

	m, err = openEncrypted(t, dir, mustKeyring(t, b))
	must(t, err)
	defer m.Close()
	l := m.Log("t", 0)
	if got := readAllBytes(t, l); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes after rotation, want %d identical", len(got), len(want))
	}
	for _, off := range []int64{0, 17, 45, 89} { // through the rebuilt indexes
		res, err := l.Read(off, 1, true)
		must(t, err)
		if len(res.Chunks) != 1 {
			t.Fatalf("read at %d: %d chunks", off, len(res.Chunks))
		}
		c, _ := res.Chunks[0].ReadAll()
		if h := mustHeader(t, c); h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("read at %d got batch %d..%d", off, h.BaseOffset, h.LastOffset())
		}
		res.Release()
	}
	mustAppend(t, l, markerBatch("AFTER", 0, recordtest.Options{}), true)
}

// BenchmarkReadServe measures what a fetch of 1 MiB costs the broker in
// this package, plain against encrypted at rest: plain chunks are read
// from the page cache into a reused buffer (a stand-in for sendfile's
// in-kernel copy), encrypted ones are read and decrypted in memory by Read.
// Batches are 16 records of 1 KiB.
func BenchmarkReadServe(b *testing.B) {
	for _, enc := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(b *testing.B) {
			var keys *Keyring
			if enc {
				keys = mustKeyring(b, testKey(1))
			}
			m, err := Open(context.Background(), Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler), Keys: keys, plain: keys == nil})
			must(b, err)
			b.Cleanup(func() { m.Close() })
			l, err := m.CreateLog("bench", 0, DefaultLogConfig())
			must(b, err)
			const n = 2000
			batch := benchBatch()
			for range n {
				if _, err := l.Append(context.Background(), batch, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 2<<20)
			var off, served int64
			b.ReportAllocs()
			for b.Loop() {
				res, err := l.Read(off, 1<<20, true)
				if err != nil {
					b.Fatal(err)
				}
				for _, c := range res.Chunks {
					if c.File != nil {
						if _, err := c.File.ReadAt(buf[:c.Len], c.Pos); err != nil {
							b.Fatal(err)
						}
					}
					served += c.Len
				}
				res.Release()
				off = (off + 16*37) % (n * 16)
			}
			b.SetBytes(served / int64(b.N))
		})
	}
}

// BenchmarkAppendEncryption is BenchmarkAppend (no fsync) plain against
// encrypted at rest: the writer seals each batch before it writes.
func BenchmarkAppendEncryption(b *testing.B) {
	for _, enc := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(b *testing.B) {
			var keys *Keyring
			if enc {
				keys = mustKeyring(b, testKey(1))
			}
			m, err := Open(context.Background(), Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler), Keys: keys, plain: keys == nil})
			must(b, err)
			b.Cleanup(func() { m.Close() })
			l, err := m.CreateLog("bench", 0, DefaultLogConfig())
			must(b, err)
			batch := benchBatch()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(context.Background(), batch, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Damage to a stored key id is corruption, found when the unit is read,
// not a missing key that refuses the start.
func TestDamagedKeyIDIsCorruption(t *testing.T) {
	dir := t.TempDir()
	keys := mustKeyring(t, testKey(1))
	m, err := openEncrypted(t, dir, keys)
	must(t, err)
	l := createLog(t, m, smallConfig())
	for i := range 60 {
		mustAppend(t, l, markerBatch("KID", i, recordtest.Options{}), false)
	}
	if len(l.mu.segments) < 2 {
		t.Fatal("want several segments")
	}
	must(t, m.Close())
	seg := filepath.Join(dir, "t-0", segmentName(0, logExt))
	b, err := os.ReadFile(seg)
	must(t, err)
	b[record.HeaderSize+3] ^= 0x20 // in the key id
	must(t, os.WriteFile(seg, b, 0o644))
	m, err = openEncrypted(t, dir, keys)
	must(t, err)
	defer m.Close()
	if _, err := m.Log("t", 0).Read(0, 1<<20, true); !errors.Is(err, ErrLogCorrupt) {
		t.Fatalf("read of the damaged unit: %v, want ErrLogCorrupt", err)
	}
}
