package storage

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Encryption at rest (docs/format/encryption.md). A batch stored encrypted
// keeps its 61-byte v2 header in the clear (indexes, recovery, producer
// state and retention read only headers) and replaces its records with an
// envelope:
//
//	 0  baseOffset .. recordCount   61 bytes, as on the wire except:
//	                                  length     = wire length + envelopeOverhead
//	                                  attributes = wire attributes | attrEncrypted
//	                                  crc        = CRC-32C of bytes 21.. as stored
//	61  envelope version            1 byte, 1
//	62  key id                      8 bytes
//	70  nonce                       12 bytes, random
//	82  ciphertext                  wire length - 49 bytes (the records)
//	..  GCM tag                     16 bytes
//
// AES-256-GCM seals the records; its additional data is the stored header
// without its CRC (bytes 0..17 and 21..61) and the envelope's version and
// key id, so a header cannot be changed or an envelope moved to another
// batch without the tag failing. The stored CRC covers the ciphertext, so
// a torn write is told from a wrong key before any key is looked up.
const (
	// attrEncrypted marks a stored batch as encrypted. Kafka defines
	// attribute bits 0-6; a batch from a client or a leader with this bit
	// set is refused, so a plain batch is never taken for an encrypted one.
	attrEncrypted    = 0x4000
	envelopeVersion  = 1
	keyIDSize        = 8
	nonceSize        = 12
	tagSize          = 16
	envelopeHeader   = 1 + keyIDSize + nonceSize
	envelopeOverhead = envelopeHeader + tagSize
	// KeySize is the size of an encryption key: AES-256.
	KeySize = 32

	offStoredCRC  = 17
	offStoredAttr = 21
	offStoredLen  = 8
)

// Errors of encryption at rest. A unit whose tag fails wraps
// record.ErrCorrupt instead: it is damaged data.
var (
	// ErrKeyMismatch refuses to open a data directory whose encrypted data
	// needs keys that were not given, or that holds encrypted data when
	// no key was given.
	ErrKeyMismatch = errors.New("storage: encryption keys do not match the data")
	// ErrKeyFile rejects a malformed key file.
	ErrKeyFile = errors.New("storage: bad encryption key file")
	// errNoKey is reading an encrypted batch without the key it names.
	errNoKey = errors.New("storage: batch encrypted with a key not given")
	// errEnvelopeVersion is an envelope of a version this build cannot
	// read (its CRC matched, so it is not a torn write).
	errEnvelopeVersion = errors.New("storage: unknown encryption envelope version")
)

// testKeys, set only by tests (EDDY_TEST_ENCRYPTION=1), encrypts every
// Manager opened without keys, so the whole suite runs on encrypted logs.
var testKeys *Keyring

// KeyID names a key in stored batches and the key check file: the first 8
// bytes of SHA-256 over a label and the key, which tells nothing of the key.
type KeyID [keyIDSize]byte

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

func keyIDOf(key []byte) KeyID {
	h := sha256.New()
	h.Write([]byte("eddy encryption key id\x00"))
	h.Write(key)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

type aeadKey struct {
	id   KeyID
	aead cipher.AEAD
}

// Keyring holds the keys of encryption at rest: the first encrypts what is
// written, every one decrypts. It is immutable and safe for concurrent use.
// A nil *Keyring means encryption is off.
type Keyring struct {
	keys []aeadKey
}

// NewKeyring returns the keyring of keys (each KeySize bytes), the first
// used for new data.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKeyFile)
	}
	k := &Keyring{}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("%w: key %d has %d bytes, want %d", ErrKeyFile, i+1, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrKeyFile, i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrKeyFile, i+1, err)
		}
		id := keyIDOf(key)
		if k.find(id) != nil {
			return nil, fmt.Errorf("%w: key %d repeats an earlier key", ErrKeyFile, i+1)
		}
		k.keys = append(k.keys, aeadKey{id: id, aead: aead})
	}
	return k, nil
}

// ParseKeys reads a key file: one key per line as 64 hex characters; blank
// lines and lines starting with # are ignored. The first key encrypts.
func ParseKeys(b []byte) (*Keyring, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) != 2*KeySize {
			return nil, fmt.Errorf("%w: line %d: want %d hex characters, got %d", ErrKeyFile, n, 2*KeySize, len(line))
		}
		key, err := hex.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: not hex", ErrKeyFile, n)
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return NewKeyring(keys...)
}

// LoadKeys reads the key file at path (ParseKeys).
func LoadKeys(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading encryption key file: %w", err)
	}
	k, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// IDs returns the ids of the keys, the encrypting one first.
func (k *Keyring) IDs() []KeyID {
	if k == nil {
		return nil
	}
	ids := make([]KeyID, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// Primary returns the id of the key that encrypts new data.
func (k *Keyring) Primary() KeyID { return k.keys[0].id }

func (k *Keyring) find(id KeyID) *aeadKey {
	if k == nil {
		return nil
	}
	for i := range k.keys {
		if k.keys[i].id == id {
			return &k.keys[i]
		}
	}
	return nil
}

// isEncrypted says whether a stored batch header is an encrypted unit's.
func isEncrypted(h record.BatchHeader) bool { return uint16(h.Attributes)&attrEncrypted != 0 }

// seal appends to dst the stored, encrypted form of the wire batch plain
// (whole and well framed: the caller validated it) under the first key.
func (k *Keyring) seal(dst, plain []byte) []byte {
	key := &k.keys[0]
	start := len(dst)
	dst = append(dst, plain[:record.HeaderSize]...)
	st := dst[start:]
	binary.BigEndian.PutUint32(st[offStoredLen:], binary.BigEndian.Uint32(st[offStoredLen:])+envelopeOverhead)
	binary.BigEndian.PutUint16(st[offStoredAttr:], binary.BigEndian.Uint16(st[offStoredAttr:])|attrEncrypted)
	binary.BigEndian.PutUint32(st[offStoredCRC:], 0) // as the additional data has it
	dst = append(dst, envelopeVersion)
	dst = append(dst, key.id[:]...)
	var nonce [nonceSize]byte
	rand.Read(nonce[:]) // never fails (crypto/rand)
	dst = append(dst, nonce[:]...)
	// The additional data is dst's own prefix: Seal appends after it.
	aad := dst[start : start+aadSize]
	dst = key.aead.Seal(dst, nonce[:], plain[record.HeaderSize:], aad)
	st = dst[start:]
	binary.BigEndian.PutUint32(st[offStoredCRC:], crcOf(st[offStoredAttr:]))
	return dst
}

// aadSize is the size of a unit's additional data: its stored header with
// the CRC field zero, the envelope version and the key id.
const aadSize = record.HeaderSize + 1 + keyIDSize

// appendAAD appends the additional data of the stored unit st.
func appendAAD(dst, st []byte) []byte {
	at := len(dst)
	dst = append(dst, st[:aadSize]...)
	binary.BigEndian.PutUint32(dst[at+offStoredCRC:], 0)
	return dst
}

// unitKeyID returns the key id of the stored encrypted batch st, checking
// its framing and CRC first, so that damage (a torn write) is reported as
// record.ErrCorrupt and not as a missing key.
func unitKeyID(st []byte) (KeyID, error) { return unitKeyIDCRC(st, true) }

// unitKeyIDCRC is unitKeyID, checking the stored CRC only with checkCRC.
func unitKeyIDCRC(st []byte, checkCRC bool) (KeyID, error) {
	var id KeyID
	h, err := record.ParseHeader(st)
	if err != nil {
		return id, err
	}
	if h.Size() != len(st) || len(st) < record.HeaderSize+envelopeOverhead {
		return id, fmt.Errorf("%w: encrypted batch of %d bytes, length says %d", record.ErrInvalid, len(st), h.Size())
	}
	if checkCRC {
		if sum := crcOf(st[offStoredAttr:]); sum != h.CRC {
			return id, fmt.Errorf("%w: encrypted batch crc %08x, computed %08x", record.ErrCorrupt, h.CRC, sum)
		}
	}
	if v := st[record.HeaderSize]; v != envelopeVersion {
		return id, fmt.Errorf("%w: %d", errEnvelopeVersion, v)
	}
	copy(id[:], st[record.HeaderSize+1:])
	return id, nil
}

// open appends to dst the wire form of the stored encrypted batch st:
// the records decrypted and the header's length, attributes and CRC as
// they were. A unit that fails its CRC or tag wraps record.ErrCorrupt;
// one naming a key not in k wraps errNoKey. dst may not overlap st.
func (k *Keyring) open(dst, st []byte) ([]byte, error) {
	id, err := unitKeyID(st)
	if err != nil {
		return dst, err
	}
	key := k.find(id)
	if key == nil {
		return dst, fmt.Errorf("%w: key id %s", errNoKey, id)
	}
	var aad [aadSize]byte
	appendAAD(aad[:0], st)
	start := len(dst)
	dst = append(dst, st[:record.HeaderSize]...)
	nonce := st[record.HeaderSize+1+keyIDSize : record.HeaderSize+envelopeHeader]
	dst, err = key.aead.Open(dst, nonce, st[record.HeaderSize+envelopeHeader:], aad[:])
	if err != nil {
		return dst[:start], fmt.Errorf("%w: encrypted batch fails authentication with key %s", record.ErrCorrupt, id)
	}
	restoreHeader(dst[start:])
	return dst, nil
}

// restoreHeader turns a stored header back into the wire one, over the
// decrypted records that follow it.
func restoreHeader(b []byte) {
	binary.BigEndian.PutUint32(b[offStoredLen:], binary.BigEndian.Uint32(b[offStoredLen:])-envelopeOverhead)
	binary.BigEndian.PutUint16(b[offStoredAttr:], binary.BigEndian.Uint16(b[offStoredAttr:])&^attrEncrypted)
	binary.BigEndian.PutUint32(b[offStoredCRC:], record.Checksum(b))
}

// openInPlace decrypts the stored encrypted batch st where it lies and
// returns the wire batch, a prefix of st (shorter by envelopeOverhead).
// It allocates nothing: the additional data is st's own prefix, its CRC
// field zeroed (restoreHeader rewrites it). It serves reads, so it skips
// the stored CRC, which the tag makes redundant: damage is still an error
// (a failed tag, or a key id no key has), only not told from a wrong key,
// which recovery needs and a read does not.
func (k *Keyring) openInPlace(st []byte) ([]byte, error) {
	id, err := unitKeyIDCRC(st, false)
	if err != nil {
		return nil, err
	}
	key := k.find(id)
	if key == nil {
		return nil, fmt.Errorf("%w: key id %s", errNoKey, id)
	}
	crc := binary.BigEndian.Uint32(st[offStoredCRC:])
	binary.BigEndian.PutUint32(st[offStoredCRC:], 0)
	nonce := st[record.HeaderSize+1+keyIDSize : record.HeaderSize+envelopeHeader]
	ct := st[record.HeaderSize+envelopeHeader:]
	pt, err := key.aead.Open(ct[:0], nonce, ct, st[:aadSize])
	if err != nil {
		binary.BigEndian.PutUint32(st[offStoredCRC:], crc)
		return nil, fmt.Errorf("%w: encrypted batch fails authentication with key %s", record.ErrCorrupt, id)
	}
	n := copy(st[record.HeaderSize:], pt)
	b := st[:record.HeaderSize+n]
	restoreHeader(b)
	return b, nil
}

// wireHeader returns the header a stored batch has on the wire (its CRC
// aside): that of an encrypted one without the envelope.
func wireHeader(h record.BatchHeader) record.BatchHeader {
	if isEncrypted(h) {
		h.Length -= envelopeOverhead
		h.Attributes &^= attrEncrypted
	}
	return h
}

// checkWireAttributes refuses a batch arriving from outside (a producer or
// a leader) that carries the stored-only encrypted bit.
func checkWireAttributes(h record.BatchHeader) error {
	if isEncrypted(h) {
		return fmt.Errorf("%w: attribute bit 0x%04x is reserved", record.ErrInvalid, attrEncrypted)
	}
	return nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
