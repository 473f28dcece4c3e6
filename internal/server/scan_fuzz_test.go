package server

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzScan feeds any bytes as the body of any request key and version:
// the scan never panics, and whenever kmsg decodes the body the scan
// accepts it too (unless it is over Kafka's limits) with a size no smaller
// than what the decoded request holds.
func FuzzScan(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 7))
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		proto := kmsg.RequestForKey(key)
		for version := int16(0); proto != nil && version <= proto.MaxVersion(); version++ {
			if body, ok := randomRequest(rng, key, version); ok {
				f.Add(uint8(key), uint8(version), body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, key, version uint8, body []byte) {
		k := int16(key) % (kmsg.MaxKey + 1)
		req := kmsg.RequestForKey(k)
		if req == nil {
			return
		}
		v := int16(version) % (req.MaxVersion() + 1)
		req.SetVersion(v)
		size, err := scanDecodedSize(k, v, body)
		if req.ReadFrom(body) != nil || errors.Is(err, errTooManyElements) || errors.Is(err, errTooManyTags) {
			return
		}
		if err != nil {
			t.Fatalf("%s v%d: kmsg decodes the body, the scan refuses it: %v", kmsg.NameForKey(k), v, err)
		}
		if want, err := decodedSize(req); err == nil && size < want {
			t.Fatalf("%s v%d: scan says %d bytes, the decoded request holds %d", kmsg.NameForKey(k), v, size, want)
		}
	})
}
