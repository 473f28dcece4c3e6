package meta

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// Broker is a registered broker: where clients reach it, and its rack.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string // empty when not set
	// Epoch is the broker's incarnation: a new registration (a restart)
	// carries a higher one, so a record of an older incarnation is refused.
	Epoch int64
}

// BrokerRecord registers a broker, or re-registers it with a new epoch
// (new address or rack after a restart).
type BrokerRecord struct{ Broker }

func (BrokerRecord) recordType() recordType { return typeBroker }

func (img *Image) applyBroker(r BrokerRecord) error {
	switch {
	case r.ID < 0:
		return fmt.Errorf("%w: broker id %d", ErrInvalidRecord, r.ID)
	case r.Host == "" || r.Port <= 0 || r.Port > 65535:
		return fmt.Errorf("%w: broker %d address %s:%d", ErrInvalidRecord, r.ID, r.Host, r.Port)
	}
	if old, ok := img.brokers[r.ID]; ok && r.Epoch <= old.Epoch {
		return fmt.Errorf("%w: broker %d registration epoch %d is not above %d", ErrStaleBrokerEpoch, r.ID, r.Epoch, old.Epoch)
	}
	if img.brokers == nil {
		img.brokers = map[int32]Broker{}
	}
	img.brokers[r.ID] = r.Broker
	return nil
}

// Brokers returns the registered brokers by id.
func (img *Image) Brokers() []Broker {
	out := make([]Broker, 0, len(img.brokers))
	for _, id := range slices.Sorted(maps.Keys(img.brokers)) {
		out = append(out, img.brokers[id])
	}
	return out
}

// Broker returns a registered broker.
func (img *Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	return b, ok
}

// minBrokerLen is the fewest bytes a broker encodes to.
const minBrokerLen = 4 + 1 + 4 + 1 + 8

func appendBroker(b []byte, br Broker) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(br.ID))
	b = appendString(b, br.Host)
	b = binary.BigEndian.AppendUint32(b, uint32(br.Port))
	b = appendString(b, br.Rack)
	return binary.BigEndian.AppendUint64(b, uint64(br.Epoch))
}

func (r *reader) broker() Broker {
	br := Broker{ID: int32(r.u32()), Host: r.str(maxHostLen)}
	br.Port = int32(r.u32())
	br.Rack = r.str(maxHostLen)
	br.Epoch = int64(r.u64())
	return br
}

const maxHostLen = 1024

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// ProducerIDsRecord hands a block of producer ids [Start, End) to a
// broker; blocks follow one another from the image's next id, so no two
// brokers ever give out the same id (Kafka's ProducerIdsRecord).
type ProducerIDsRecord struct {
	Broker     int32
	Start, End int64
}

func (ProducerIDsRecord) recordType() recordType { return typeProducerIDs }

func (img *Image) applyProducerIDs(r ProducerIDsRecord) error {
	if r.Start != img.nextProducerID || r.End <= r.Start {
		return fmt.Errorf("%w: producer id block [%d, %d), the next block starts at %d", ErrStaleProducerIDs, r.Start, r.End, img.nextProducerID)
	}
	img.nextProducerID = r.End
	return nil
}

// NextProducerID is where the next block of producer ids starts.
func (img *Image) NextProducerID() int64 { return img.nextProducerID }
