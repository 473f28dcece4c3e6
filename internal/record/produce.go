package record

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

// ProduceRules are the checks of a produced batch that depend on who wrote
// it and where it goes.
type ProduceRules struct {
	// FromClient applies the header rules Kafka applies to batches from a
	// producer (AppendOrigin.CLIENT): base offset 0, no control batch, no
	// transactional batch without a producer id, and a base sequence for
	// an idempotent batch.
	FromClient bool
	// RequireKeys rejects records without a key, as a compacted topic
	// must (cleanup.policy=compact).
	RequireKeys bool
}

// RecordError blames one record of a batch (KIP-467).
type RecordError struct {
	Index   int32 // position of the record in its batch, from 0
	Message string
}

// RecordsError rejects a batch because of the records it lists, in
// ascending order of index, so a client fails only those records (Kafka's
// RecordValidationException). It wraps ErrInvalid.
type RecordsError struct {
	Records []RecordError
}

// maxShownRecordErrors is how many record errors the message spells out,
// as Kafka's does.
const maxShownRecordErrors = 3

func (e *RecordsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d of the batch's records rejected", ErrInvalid, len(e.Records))
	for i, r := range e.Records[:min(len(e.Records), maxShownRecordErrors)] {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%srecord %d: %s", sep, r.Index, r.Message)
	}
	if len(e.Records) > maxShownRecordErrors {
		b.WriteString(", ...")
	}
	return b.String()
}

// Unwrap makes a RecordsError match ErrInvalid.
func (e *RecordsError) Unwrap() error { return ErrInvalid }

// msgNoKey is Kafka's reason for a keyless record on a compacted topic.
const msgNoKey = "compacted topic cannot accept a record without a key"

// decodeSlots bounds the compressed batches being validated at once across
// the process. Decompression is CPU-bound, so more would not go faster, and
// each slot may hold a decoder's window (up to MaxDecompressedBytes for a
// zstd frame that asks for it): this is what bounds validation memory when
// a request spreads bombs over thousands of partitions.
var decodeSlots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))

// ValidateProduce checks a batch written by a producer as Kafka's
// LogValidator does, on top of Validate: a compressed batch is decompressed
// as a stream (never more than a small window in memory, at most
// MaxDecompressedBytes in all) and every record's framing, the record
// count, the offset deltas 0..n-1 and the end of the stream right after the
// last record are checked. Records breaking a rule of rules are reported
// together as a *RecordsError. It blocks only to wait for a decoding slot.
func ValidateProduce(ctx context.Context, b []byte, rules ProduceRules) (BatchHeader, error) {
	h, err := Validate(b)
	if err != nil {
		return h, err
	}
	if rules.FromClient {
		if err := checkClientHeader(h); err != nil {
			return h, err
		}
	}
	// Control batches come from the broker itself (transaction markers).
	keys := rules.RequireKeys && !h.IsControl()
	var keyless []int32
	if h.Codec() == None {
		if keys {
			keyless = keylessRecords(b[HeaderSize:], h.NumRecords)
		}
	} else if keyless, err = validateCompressed(ctx, h, b[HeaderSize:], keys); err != nil {
		return h, err
	}
	if len(keyless) > 0 {
		return h, noKeyError(keyless)
	}
	return h, nil
}

// checkClientHeader applies Kafka's header rules for producers' batches.
func checkClientHeader(h BatchHeader) error {
	switch {
	case h.BaseOffset != 0:
		return fmt.Errorf("%w: a produced batch must have base offset 0, not %d", ErrInvalid, h.BaseOffset)
	case h.IsControl():
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalid)
	case h.IsTransactional() && h.ProducerID < 0:
		return fmt.Errorf("%w: transactional batch without a producer id", ErrInvalid)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return fmt.Errorf("%w: invalid base sequence %d for producer id %d", ErrInvalid, h.BaseSequence, h.ProducerID)
	}
	return nil
}

func noKeyError(idx []int32) error {
	e := &RecordsError{Records: make([]RecordError, len(idx))}
	for i, n := range idx {
		e.Records[i] = RecordError{Index: n, Message: msgNoKey}
	}
	return e
}

// keylessRecords lists the records of uncompressed, already validated
// records recs whose key is null.
func keylessRecords(recs []byte, n int32) []int32 {
	var out []int32
	pos := 0
	for i := range n {
		body, next, _ := nextRecord(recs, pos)
		if keyLen(body) < 0 {
			out = append(out, i)
		}
		pos = next
	}
	return out
}

// keyLen returns the key length of a record body whose framing is sound.
func keyLen(body []byte) int {
	_, p, _ := varlong(body, 1)
	_, p, _ = varint(body, p)
	n, _, _ := bytesLen(body, p)
	return n
}

// validateCompressed walks the records of a compressed batch while
// decompressing them, holding one decoding slot.
func validateCompressed(ctx context.Context, h BatchHeader, payload []byte, keys bool) ([]int32, error) {
	select {
	case decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-decodeSlots }()
	v := getInflater()
	defer putInflater(v)
	s, err := v.open(h.Codec(), payload)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decompress %s: %v", ErrInvalid, h.Codec(), err)
	}
	return s.walk(h.NumRecords, keys, h.Codec())
}
