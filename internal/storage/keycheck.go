package storage

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
	"github.com/eddy-streaming/eddy/internal/record"
)

// keyCheckFile, in the storage directory, lists the ids of the keys that
// encrypted data in it may need (docs/format/encryption.md). It is written
// when a node first starts with encryption and whenever a new first key
// appears, and rewritten by Reencrypt; it holds no key material.
const (
	keyCheckFile    = "encryption-keys"
	keyCheckHeader  = "eddy encryption keys v1"
	keyCheckCRCText = "crc32c "
)

// encodeKeyCheck renders the key check file: a header line, one key id in
// hex per line, and a CRC-32C of the lines before it.
func encodeKeyCheck(ids []KeyID) []byte {
	var b bytes.Buffer
	b.WriteString(keyCheckHeader + "\n")
	for _, id := range ids {
		b.WriteString(id.String() + "\n")
	}
	fmt.Fprintf(&b, "%s%08x\n", keyCheckCRCText, crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

func decodeKeyCheck(b []byte) ([]KeyID, error) {
	i := bytes.LastIndex(b, []byte(keyCheckCRCText))
	if i < 0 || !bytes.HasPrefix(b, []byte(keyCheckHeader+"\n")) {
		return nil, fmt.Errorf("%w: not a key check file", errCorruptFile)
	}
	if want := fmt.Sprintf("%s%08x\n", keyCheckCRCText, crc32.Checksum(b[:i], castagnoli)); string(b[i:]) != want {
		return nil, fmt.Errorf("%w: key check file crc", errCorruptFile)
	}
	var ids []KeyID
	sc := bufio.NewScanner(bytes.NewReader(b[len(keyCheckHeader)+1 : i]))
	for sc.Scan() {
		var id KeyID
		if n, err := hex.Decode(id[:], []byte(sc.Text())); err != nil || n != keyIDSize || len(sc.Text()) != 2*keyIDSize {
			return nil, fmt.Errorf("%w: key check file: bad key id %q", errCorruptFile, sc.Text())
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// readKeyCheck returns the ids the key check file of dir lists, and
// whether it exists.
func readKeyCheck(dir string) ([]KeyID, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, keyCheckFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: read key check file: %w", err)
	}
	ids, err := decodeKeyCheck(b)
	if err != nil {
		return nil, true, fmt.Errorf("storage: %s: %w", filepath.Join(dir, keyCheckFile), err)
	}
	return ids, true, nil
}

func writeKeyCheck(dir string, ids []KeyID) error {
	if err := atomicfile.Write(filepath.Join(dir, keyCheckFile), encodeKeyCheck(ids)); err != nil {
		return fmt.Errorf("storage: write key check file: %w", err)
	}
	return nil
}

// CheckKeys tells, without writing anything, whether the storage directory
// dir can be opened with keys (nil: encryption off): every key its key
// check file lists and every key the first batch of each segment names
// must be given, and a directory holding encrypted data is refused without
// keys. A refusal wraps ErrKeyMismatch and says which key ids are missing.
// It returns the key ids the directory needs.
func CheckKeys(dir string, keys *Keyring) ([]KeyID, error) {
	listed, exists, err := readKeyCheck(dir)
	if err != nil {
		return nil, err
	}
	found, err := segmentKeyIDs(dir, keys)
	if err != nil {
		return nil, err
	}
	need := listed
	for _, id := range found {
		if !slices.Contains(need, id) {
			need = append(need, id)
		}
	}
	if keys == nil && (exists || len(need) > 0) {
		return need, fmt.Errorf("%w: %s holds data encrypted with key ids %s; start with --encryption-key-file naming those keys (encryption cannot be turned off once on)",
			ErrKeyMismatch, dir, idList(need))
	}
	var missing []KeyID
	for _, id := range need {
		if keys.find(id) == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return need, fmt.Errorf("%w: %s holds data encrypted with key ids %s, not in the key file (its keys: %s); add them back, or run `eddy storage reencrypt` with them before removing them",
			ErrKeyMismatch, dir, idList(missing), idList(keys.IDs()))
	}
	return need, nil
}

func idList(ids []KeyID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ",")
}

// prepareKeys checks dir against keys (CheckKeys) and, with keys, records
// the first key in the key check file before any data is written with it.
func prepareKeys(dir string, keys *Keyring) error {
	need, err := CheckKeys(dir, keys)
	if err != nil || keys == nil {
		return err
	}
	listed, exists, err := readKeyCheck(dir)
	if err != nil {
		return err
	}
	if !slices.Contains(need, keys.Primary()) {
		need = append(need, keys.Primary())
	}
	if exists && slices.Equal(listed, need) {
		return nil
	}
	return writeKeyCheck(dir, need)
}

// segmentKeyIDs returns the key ids named by the first batch of every
// segment under dir, without writing anything. A key id keys has is taken
// from the header as is; any other is believed only if its unit's stored
// CRC holds, so that a torn or damaged first batch (recovery's or the
// verifier's business) is not taken for a missing key. So a start with the
// right keys reads one small header per segment.
func segmentKeyIDs(dir string, keys *Keyring) ([]KeyID, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read data dir: %w", err)
	}
	var ids []KeyID
	for _, e := range ents {
		if _, ok := parsePartitionDir(e.Name()); !ok || !e.IsDir() {
			continue
		}
		segs, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("storage: read partition dir: %w", err)
		}
		for _, s := range segs {
			if _, ok := parseSegmentName(s.Name()); !ok {
				continue
			}
			id, ok, err := firstBatchKeyID(filepath.Join(dir, e.Name(), s.Name()), keys)
			if err != nil {
				return nil, err
			}
			if ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// firstBatchKeyID returns the key id of the segment file's first batch if
// it is encrypted (and, for a key keys lacks, intact).
func firstBatchKeyID(path string, keys *Keyring) (KeyID, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return KeyID{}, false, fmt.Errorf("storage: open segment: %w", err)
	}
	defer f.Close()
	hb := make([]byte, record.HeaderSize+envelopeHeader)
	if _, err := f.ReadAt(hb, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return KeyID{}, false, nil // empty or torn: recovery's business
		}
		return KeyID{}, false, fmt.Errorf("storage: read segment %s: %w", path, err)
	}
	h, _ := record.ParseHeader(hb)
	if !isEncrypted(h) || h.Length < 0 || h.Size() > 1<<30 || h.Size() < record.HeaderSize+envelopeOverhead {
		return KeyID{}, false, nil
	}
	if id := KeyID(hb[record.HeaderSize+1:]); hb[record.HeaderSize] == envelopeVersion && keys.find(id) != nil {
		return id, true, nil
	}
	b := make([]byte, h.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return KeyID{}, false, nil
		}
		return KeyID{}, false, fmt.Errorf("storage: read segment %s: %w", path, err)
	}
	id, err := unitKeyID(b)
	if errors.Is(err, errEnvelopeVersion) {
		return id, false, fmt.Errorf("storage: segment %s: %w", path, err)
	}
	return id, err == nil, nil
}
