package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Markers asks the caller to write a transaction's commit or abort
// markers (WriteTxnMarkers) to each of Partitions, and to report each
// partition done with MarkersWritten. A partition whose topic was deleted
// counts as done. TRANSACTION_COORDINATOR_FENCED means a newer coordinator
// owns the id: stop, and let it finish.
type Markers struct {
	TransactionalID    string
	ProducerID         int64
	ProducerEpoch      int16
	Commit             bool
	CoordinatorEpoch   int32
	TransactionVersion int8 // WriteTxnMarkers v2: the transaction version of the transaction
	Partitions         []TopicPartition
}

// Output is what coordinator steps produced since the last Ready: records
// to append to the partition's log and, once they are durable, markers
// to write.
type Output struct {
	Records []record.Record
	Markers []Markers
}

// txn is one transactional id's state: the durable Entry plus what Kafka
// keeps only in memory.
type txn struct {
	id string
	Entry
	// lastEpoch is the epoch before the last bump, for KIP-360 retries of
	// InitProducerId; like Kafka's, it is not written, and is -1 after a
	// load.
	lastEpoch int16
}

// Coordinator is the deterministic transaction coordinator of one
// __transaction_state partition at one coordinator epoch (the partition's
// leader epoch). Create it with New, feed it the partition's records with
// Replay, then call Loaded; from then on Handle answers requests, Tick
// runs timeouts and expiry by Deadline, and MarkersWritten completes
// transactions. After every call the caller takes Ready.
type Coordinator struct {
	cfg       Config
	log       *slog.Logger
	partition int32
	epoch     int32
	loaded    bool
	txns      map[string]*txn
	out       Output
	skipped   int // replayed records of unknown kinds

	nextAbortCheck  time.Time
	nextExpiryCheck time.Time
}

// New returns the coordinator of partition at coordinator epoch epoch,
// empty and loading: Handle answers COORDINATOR_LOAD_IN_PROGRESS until
// Loaded.
func New(cfg Config, partition, epoch int32) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if partition < 0 || partition >= cfg.NumPartitions {
		return nil, fmt.Errorf("txn: partition %d of %d", partition, cfg.NumPartitions)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger, partition: partition, epoch: epoch, txns: make(map[string]*txn)}, nil
}

// Partition is the __transaction_state partition coordinated.
func (c *Coordinator) Partition() int32 { return c.partition }

// Epoch is the coordinator epoch, stamped on every marker request.
func (c *Coordinator) Epoch() int32 { return c.epoch }

// Replay applies one record of the partition's log, oldest first: the
// latest record of an id wins and a tombstone deletes it. A record of an
// unknown kind is skipped (counted, logged at Loaded) and returns nil; a
// record that does not decode returns an error wrapping errBadRecord and
// changes nothing, so one bad record does not take down the partition.
func (c *Coordinator) Replay(key, value []byte) error {
	id, e, err := DecodeRecord(key, value)
	if errors.Is(err, errUnknownRecord) {
		c.skipped++
		return nil
	}
	if err != nil {
		return err
	}
	if e == nil || e.State == Dead {
		delete(c.txns, id)
		return nil
	}
	if e.ProducerID < 0 || e.ProducerEpoch < 0 || slices.ContainsFunc(e.Partitions, func(tp TopicPartition) bool { return tp.Partition < 0 }) {
		return fmt.Errorf("%w: transactional id %q: producer id %d epoch %d", errBadRecord, id, e.ProducerID, e.ProducerEpoch)
	}
	if e.State == PrepareEpochFence {
		// Kafka never writes this state (a fence is written as the
		// PrepareAbort that follows it); should one appear, the abort it
		// was heading for is the only way out.
		e.State = PrepareAbort
	}
	c.txns[id] = &txn{id: id, Entry: *e, lastEpoch: noProducerEpoch}
	return nil
}

// ReplayBatch replays the records of one batch of the partition's log (a
// v2 record batch, as read). Control batches are skipped; a batch that
// does not decode returns an error and changes nothing; a bad record is
// skipped and logged, the batch's others still apply.
func (c *Coordinator) ReplayBatch(batch []byte) error {
	h, recs, err := record.Records(batch)
	if err != nil {
		return fmt.Errorf("%w: batch at offset %d: %v", errBadRecord, h.BaseOffset, err)
	}
	if h.IsControl() {
		return nil
	}
	for _, rec := range recs {
		if err := c.Replay(rec.Key, rec.Value); err != nil {
			c.log.Warn("skipping __transaction_state record", "partition", c.partition,
				"offset", h.BaseOffset+int64(rec.OffsetDelta), "err", err)
		}
	}
	return nil
}

// Loaded ends the replay: the coordinator starts answering, and asks for
// the markers of every transaction the previous coordinator left in
// PrepareCommit or PrepareAbort.
func (c *Coordinator) Loaded(now time.Time) {
	if c.skipped > 0 {
		c.log.Info("skipped __transaction_state records of an unknown kind", "partition", c.partition, "records", c.skipped)
	}
	c.loaded = true
	for _, t := range c.sorted() {
		if t.State.preparing() {
			c.sendMarkers(now, t)
		}
	}
	c.nextAbortCheck = now.Add(c.cfg.AbortCheckInterval)
	c.nextExpiryCheck = now.Add(c.cfg.ExpiryCheckInterval)
}

// Ready takes what the steps since the last call produced.
func (c *Coordinator) Ready() Output {
	out := c.out
	c.out = Output{}
	return out
}

// Deadline is when Tick must next be called; false before Loaded.
func (c *Coordinator) Deadline() (time.Time, bool) {
	if !c.loaded {
		return time.Time{}, false
	}
	if c.nextExpiryCheck.Before(c.nextAbortCheck) {
		return c.nextExpiryCheck, true
	}
	return c.nextAbortCheck, true
}

// Tick runs what is due at now: aborting transactions open longer than
// their timeout, and expiring ids idle past IDExpiration.
func (c *Coordinator) Tick(now time.Time) {
	if !c.loaded {
		return
	}
	if !now.Before(c.nextAbortCheck) {
		c.abortTimedOut(now)
		c.nextAbortCheck = now.Add(c.cfg.AbortCheckInterval)
	}
	if !now.Before(c.nextExpiryCheck) {
		c.expire(now)
		c.nextExpiryCheck = now.Add(c.cfg.ExpiryCheckInterval)
	}
}

// Handle steps one request and returns its response, to be sent once the
// records Ready then holds are durable. It serves InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions and
// ListTransactions; ids of other partitions are answered NOT_COORDINATOR,
// and every request COORDINATOR_LOAD_IN_PROGRESS before Loaded.
func (c *Coordinator) Handle(now time.Time, req kmsg.Request) kmsg.Response {
	if !c.loaded {
		// An idempotent producer's id needs no loaded state.
		if r, ok := req.(*kmsg.InitProducerIDRequest); ok && r.TransactionalID == nil {
			return c.initProducerID(now, r)
		}
		return ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	}
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return c.initProducerID(now, r)
	case *kmsg.AddPartitionsToTxnRequest:
		return c.addPartitionsToTxn(now, r)
	case *kmsg.AddOffsetsToTxnRequest:
		return c.addOffsetsToTxn(now, r)
	case *kmsg.EndTxnRequest:
		return c.endTxn(now, r)
	case *kmsg.DescribeTransactionsRequest:
		return c.describe(r)
	case *kmsg.ListTransactionsRequest:
		return c.list(now, r)
	}
	return ErrorResponse(req, kerr.UnsupportedVersion.Code)
}

// owns reports whether id belongs to this partition.
func (c *Coordinator) owns(id string) bool {
	return PartitionFor(id, c.cfg.NumPartitions) == c.partition
}

// sorted lists the ids' states by id, for deterministic output.
func (c *Coordinator) sorted() []*txn {
	out := make([]*txn, 0, len(c.txns))
	for _, id := range slices.Sorted(maps.Keys(c.txns)) {
		out = append(out, c.txns[id])
	}
	return out
}

// transition moves t to next, as durable state: it checks Kafka's state
// machine, stamps the previous producer id as Kafka does (the id before
// this transition) and queues the record.
func (c *Coordinator) transition(t *txn, next Entry) {
	if !canTransition(t.State, next.State) {
		panic(fmt.Sprintf("txn: %q: transition %v → %v", t.id, t.State, next.State))
	}
	next.PreviousProducerID = t.ProducerID
	t.Entry = next
	c.out.Records = append(c.out.Records, Record(t.id, &t.Entry, c.cfg.valueVersion()))
}

// fits reports whether e's record stays within MaxValueBytes.
func (c *Coordinator) fits(e *Entry) bool {
	return len(EncodeValue(e, c.cfg.valueVersion())) <= c.cfg.MaxValueBytes
}

// sendMarkers asks for t's markers, or completes t at once if it has no
// partitions left.
func (c *Coordinator) sendMarkers(now time.Time, t *txn) {
	if len(t.Partitions) == 0 {
		c.complete(now, t)
		return
	}
	c.out.Markers = append(c.out.Markers, c.markersOf(t))
}

func (c *Coordinator) markersOf(t *txn) Markers {
	return Markers{TransactionalID: t.id, ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch,
		Commit: t.State == PrepareCommit, CoordinatorEpoch: c.epoch,
		TransactionVersion: int8(t.ClientTxnVersion), Partitions: slices.Clone(t.Partitions)}
}

// PendingMarkers lists the markers still to write, for a caller that lost
// track of them (Loaded and each EndTxn already asked once).
func (c *Coordinator) PendingMarkers() []Markers {
	var out []Markers
	for _, t := range c.sorted() {
		if t.State.preparing() && len(t.Partitions) > 0 {
			out = append(out, c.markersOf(t))
		}
	}
	return out
}

// MarkersWritten reports markers of transactional id id, producer id and
// epoch as written (or moot) on partitions. Once every partition of the
// transaction is done it completes: CompleteCommit or CompleteAbort is
// written. Reports that do not match the transaction in flight (stale,
// duplicated, or from before a reload) are ignored.
func (c *Coordinator) MarkersWritten(now time.Time, id string, producerID int64, epoch int16, partitions []TopicPartition) {
	t := c.txns[id]
	if t == nil || !t.State.preparing() || t.ProducerID != producerID || t.ProducerEpoch != epoch {
		return
	}
	before := len(t.Partitions)
	done := make(map[TopicPartition]bool, len(partitions))
	for _, tp := range partitions {
		done[tp] = true
	}
	t.Partitions = slices.DeleteFunc(t.Partitions, func(tp TopicPartition) bool { return done[tp] })
	if before > 0 && len(t.Partitions) == 0 {
		c.complete(now, t)
	}
}

// complete writes CompleteCommit or CompleteAbort for t, whose markers are
// all written. After a transaction version 2 epoch overflow the id moves
// to its next producer id at epoch 0.
func (c *Coordinator) complete(now time.Time, t *txn) {
	next := t.Entry
	next.State = CompleteAbort
	if t.State == PrepareCommit {
		next.State = CompleteCommit
	}
	if t.ClientTxnVersion >= tv2 && t.NextProducerID != noProducerID {
		next.ProducerID, next.ProducerEpoch = t.NextProducerID, 0
	}
	next.NextProducerID = noProducerID
	next.Partitions = nil
	next.LastUpdateMs = now.UnixMilli()
	c.transition(t, next)
}

// afterComplete is the producer id and epoch t will have once its
// markers are written: what a transaction version 2 EndTxn returns.
func afterComplete(t *txn) (int64, int16) {
	if t.ClientTxnVersion >= tv2 && t.NextProducerID != noProducerID {
		return t.NextProducerID, 0
	}
	return t.ProducerID, t.ProducerEpoch
}
