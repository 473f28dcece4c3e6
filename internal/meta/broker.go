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
	// Fenced brokers lead nothing and are not offered to clients: a broker
	// registers fenced and is unfenced once it heartbeats caught up; it is
	// fenced again when its session expires or it shuts down.
	Fenced bool
}

// BrokerRecord registers a broker, or re-registers it with a new epoch
// (new address or rack after a restart). A registration is fenced,
// whatever Fenced says: the broker has not heartbeated yet.
type BrokerRecord struct{ Broker }

// BrokerFenceRecord fences or unfences one incarnation of a broker (Kafka's
// FenceBrokerRecord and UnfenceBrokerRecord). A record naming an older
// incarnation than the registered one is refused.
type BrokerFenceRecord struct {
	ID     int32
	Epoch  int64
	Fenced bool
}

func (BrokerRecord) recordType() recordType      { return typeBroker }
func (BrokerFenceRecord) recordType() recordType { return typeBrokerFence }

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
	b := r.Broker
	b.Fenced = true
	img.brokers[r.ID] = b
	return nil
}

func (img *Image) applyBrokerFence(r BrokerFenceRecord) error {
	b, ok := img.brokers[r.ID]
	switch {
	case !ok:
		return fmt.Errorf("%w: broker %d is not registered", ErrInvalidRecord, r.ID)
	case r.Epoch != b.Epoch:
		return fmt.Errorf("%w: broker %d is registered at epoch %d, the record names %d", ErrStaleBrokerEpoch, r.ID, b.Epoch, r.Epoch)
	}
	b.Fenced = r.Fenced
	img.brokers[r.ID] = b
	return nil
}

// LiveBrokers returns the unfenced brokers by id: those that may lead and
// be given new replicas.
func (img *Image) LiveBrokers() []Broker {
	var out []Broker
	for _, b := range img.Brokers() {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	return out
}

// Live reports whether broker id is registered and unfenced.
func (img *Image) Live(id int32) bool {
	b, ok := img.brokers[id]
	return ok && !b.Fenced
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

// appendBroker encodes a broker as a registration record carries it; the
// state file follows it with brokerFlags.
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

const brokerFenced = 1 // the state file's broker flags (version 5)

func brokerFlags(br Broker) byte {
	if br.Fenced {
		return brokerFenced
	}
	return 0
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
