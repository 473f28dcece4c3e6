package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// partitionLog is what a Partition uses of its log: *storage.Log, or a
// fake whose high watermark a test moves by hand.
type partitionLog interface {
	Append(ctx context.Context, batches []byte, opts storage.AppendOptions) (storage.AppendResult, error)
	AppendAsFollower(ctx context.Context, batches []byte, opts storage.AppendOptions) (storage.AppendResult, error)
	TruncateTo(ctx context.Context, offset int64) (int64, error)
	TruncateFullyAndStartAt(ctx context.Context, offset int64) error
	Read(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error)
	ReadReplica(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error)
	ReadCommitted(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error)
	LastStableOffset() int64
	AppendMarker(ctx context.Context, m storage.TxnMarker, opts storage.AppendOptions) (int64, error)
	SetHighWatermark(o int64) int64
	Changed() <-chan struct{}
	LogStartOffset() int64
	LogEndOffset() int64
	HighWatermark() int64
	LatestEpoch() (int32, bool)
	EndOffsetForEpoch(epoch int32) (int32, int64)
	OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool)
	MaxTimestamp() (offset, timestamp int64, ok bool)
	DeleteRecordsBefore(ctx context.Context, offset int64) (int64, error)
	Offline() error
	Config() storage.LogConfig
	Producers(ctx context.Context) ([]storage.ProducerState, error)
}

// Partition is this node's replica of one partition.
type Partition struct {
	topic     string
	partition int32
	self      int32
	log       partitionLog
	waiters   *purgatory
	// alter proposes an ISR change to the metadata; nil on a standalone
	// node, whose ISR is itself alone.
	alter  AlterISR
	logger *slog.Logger
	// isrMetrics counts committed ISR changes; nil in tests of a bare
	// Partition. Set before the partition is shared.
	isrMetrics *isrMetrics

	// mu guards the role, epochs, replicas, ISR and follower states. lead
	// and stop also start and stop the purgatory under it (mu first, then
	// the purgatory's lock, never the reverse), so the purgatory always
	// agrees with the role.
	mu struct {
		sync.RWMutex
		leader         bool
		leaderID       int32 // the partition's leader as last applied; -1 none
		epoch          int32
		partitionEpoch int32
		topicID        [16]byte
		replicas       []int32
		isr            []int32
		// Leader only: the other replicas' fetch progress, where this
		// leadership began, and an ISR change awaiting the quorum.
		followers  map[int32]*followerState
		epochStart int64
		pendingISR []int32
	}
}

func newPartition(topic string, partition, self int32, log partitionLog, alter AlterISR, logger *slog.Logger) *Partition {
	p := &Partition{topic: topic, partition: partition, self: self, log: log, alter: alter, logger: logger}
	p.mu.leaderID = -1
	p.waiters = newPurgatory(log.HighWatermark)
	p.waiters.stop(p.notLeader())
	return p
}

// AppendOptions tunes one Append.
type AppendOptions struct {
	// Acks is the produce's required acks: -1 (all) waits until the high
	// watermark passes the appended records; 0 and 1 return once the log
	// has them.
	Acks int16
	// Timeout bounds the whole append, wait included; 0 means none.
	Timeout time.Duration
	// Hangup closes when the client has gone; an acks=all wait ends there.
	// Nil never closes.
	Hangup <-chan struct{}
	// Storage is passed to the log's Append, with LeaderEpoch set to the
	// partition's: batches are stamped with the epoch of the leader that
	// appended them, as Kafka's appendAsLeader does.
	Storage storage.AppendOptions
	// Waited, if set, receives how long an acks=all append waited for the
	// followers (the request metrics' wait phase).
	Waited *time.Duration
}

// Append appends batches to the log if this node leads the partition and,
// with acks=all, waits for the high watermark to pass them. A wait that
// times out returns context.DeadlineExceeded; the records stay appended,
// as in Kafka.
func (p *Partition) Append(ctx context.Context, batches []byte, opts AppendOptions) (storage.AppendResult, error) {
	epoch, err := p.leaderEpoch()
	if err != nil {
		return storage.AppendResult{}, err
	}
	if opts.Acks == -1 {
		if err := p.enoughReplicas(ErrNotEnoughReplicas); err != nil {
			return storage.AppendResult{}, err
		}
	}
	opts.Storage.LeaderEpoch = epoch
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	res, err := p.log.Append(ctx, batches, opts.Storage)
	if err != nil {
		return res, err
	}
	p.maybeAdvanceHighWatermark()
	if opts.Acks != -1 {
		return res, nil
	}
	waitStart := time.Now()
	err = p.waiters.wait(ctx, opts.Hangup, res.BaseOffset+recordSpan(batches)-1)
	if opts.Waited != nil {
		*opts.Waited = time.Since(waitStart)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// As Kafka's DelayedProduce: a wait that ran out with too few
		// replicas in sync says so rather than just timing out.
		if ierr := p.enoughReplicas(ErrNotEnoughReplicasAfterAppend); ierr != nil {
			return res, ierr
		}
	}
	return res, err
}

// AppendMarker writes the end-transaction marker m if this node leads the
// partition and, with acks=all, waits for the high watermark to pass it,
// as Append does for batches.
func (p *Partition) AppendMarker(ctx context.Context, m storage.TxnMarker, opts AppendOptions) (int64, error) {
	epoch, err := p.leaderEpoch()
	if err != nil {
		return 0, err
	}
	if opts.Acks == -1 {
		if err := p.enoughReplicas(ErrNotEnoughReplicas); err != nil {
			return 0, err
		}
	}
	opts.Storage.LeaderEpoch = epoch
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	offset, err := p.log.AppendMarker(ctx, m, opts.Storage)
	if err != nil {
		return 0, err
	}
	p.maybeAdvanceHighWatermark()
	if opts.Acks != -1 {
		return offset, nil
	}
	err = p.waiters.wait(ctx, opts.Hangup, offset)
	if errors.Is(err, context.DeadlineExceeded) {
		if ierr := p.enoughReplicas(ErrNotEnoughReplicasAfterAppend); ierr != nil {
			return offset, ierr
		}
	}
	return offset, err
}

// recordSpan counts the offsets that batches (valid, since appended) take.
func recordSpan(batches []byte) int64 {
	var n int64
	for len(batches) >= record.HeaderSize {
		h, err := record.ParseHeader(batches)
		if err != nil || h.Size() > len(batches) {
			panic(fmt.Sprintf("replica: appended batches do not parse: %v", err))
		}
		n += int64(h.LastOffsetDelta) + 1
		batches = batches[h.Size():]
	}
	return n
}

// Read returns whole batches from offset for a consumer: never past the
// high watermark.
func (p *Partition) Read(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error) {
	if _, err := p.leaderEpoch(); err != nil {
		return storage.ReadResult{}, err
	}
	return p.log.Read(offset, maxBytes, minOneBatch)
}

// ReadCommitted is Read for isolation level read_committed: up to the
// last stable offset, with the aborted transactions of what it returns.
func (p *Partition) ReadCommitted(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error) {
	if _, err := p.leaderEpoch(); err != nil {
		return storage.ReadResult{}, err
	}
	return p.log.ReadCommitted(offset, maxBytes, minOneBatch)
}

// ReadReplica returns whole batches from offset for a follower, up to the
// log end; the caller recorded the fetch with FollowerFetched first.
func (p *Partition) ReadReplica(offset, maxBytes int64, minOneBatch bool) (storage.ReadResult, error) {
	if _, err := p.leaderEpoch(); err != nil {
		return storage.ReadResult{}, err
	}
	return p.log.ReadReplica(offset, maxBytes, minOneBatch)
}

// Changed returns a channel closed at the partition's next append; fetch
// long polls wait on it.
func (p *Partition) Changed() <-chan struct{} { return p.log.Changed() }

// DeleteRecordsBefore advances the log start offset to offset (-1: the high
// watermark) and returns the new log start.
func (p *Partition) DeleteRecordsBefore(ctx context.Context, offset int64) (int64, error) {
	if _, err := p.leaderEpoch(); err != nil {
		return -1, err
	}
	if offset == -1 {
		offset = p.HighWatermark()
	}
	return p.log.DeleteRecordsBefore(ctx, offset)
}

// OffsetForTimestamp returns the first record at or after ts (ListOffsets).
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	return p.log.OffsetForTimestamp(ts)
}

// MaxTimestamp returns the record with the largest timestamp (ListOffsets -3).
func (p *Partition) MaxTimestamp() (offset, timestamp int64, ok bool) { return p.log.MaxTimestamp() }

// Offline returns the error of a log taken offline, nil otherwise.
func (p *Partition) Offline() error { return p.log.Offline() }

// Config returns the log's config.
func (p *Partition) Config() storage.LogConfig { return p.log.Config() }

// LogStartOffset returns the first offset a consumer may read.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset returns the offset the next appended record will get.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// HighWatermark returns the end of the committed log.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// LastStableOffset is the first offset of the earliest transaction not
// yet decided below the high watermark, or the high watermark.
func (p *Partition) LastStableOffset() int64 { return p.log.LastStableOffset() }

// LeaderEpoch returns the epoch of this node's leadership, or ErrNotLeader.
func (p *Partition) LeaderEpoch() (int32, error) { return p.leaderEpoch() }

func (p *Partition) leaderEpoch() (int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.mu.leader {
		return -1, p.notLeader()
	}
	return p.mu.epoch, nil
}

// ISR returns the in-sync replicas.
func (p *Partition) ISR() []int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.mu.isr)
}

// stop ends this node's leadership; waiting produces fail with ErrNotLeader.
func (p *Partition) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.leader, p.mu.followers, p.mu.pendingISR = false, nil, nil
	p.waiters.stop(p.notLeader())
}

// NoEpoch is Kafka's "no leader epoch given" (-1): a request carrying it
// as its current or last fetched epoch is not checked.
const NoEpoch int32 = -1

// CheckEpoch checks a request's CurrentLeaderEpoch as Kafka does before
// serving it (KIP-320): one below the partition's is from a stale client
// (ErrFencedEpoch), one above it is news this node has not applied yet
// (ErrUnknownEpoch). Then the partition must be led here (ErrNotLeader).
func (p *Partition) CheckEpoch(current int32) error {
	_, err := p.checkEpoch(current)
	return err
}

// checkEpoch is CheckEpoch, returning the partition's epoch when it passes.
func (p *Partition) checkEpoch(current int32) (int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	switch {
	case current == NoEpoch:
	case current < p.mu.epoch:
		return -1, fmt.Errorf("%w: %s-%d is at epoch %d, request has %d", ErrFencedEpoch, p.topic, p.partition, p.mu.epoch, current)
	case current > p.mu.epoch:
		return -1, fmt.Errorf("%w: %s-%d is at epoch %d, request has %d", ErrUnknownEpoch, p.topic, p.partition, p.mu.epoch, current)
	}
	if !p.mu.leader {
		return -1, p.notLeader()
	}
	return p.mu.epoch, nil
}

// EpochEnd is where a leader epoch ended in this log: OffsetForLeaderEpoch's
// answer and a diverging fetch's.
type EpochEnd struct {
	Epoch     int32
	EndOffset int64
}

// LastOffsetForEpoch answers OffsetForLeaderEpoch as Kafka's
// Partition.lastOffsetForLeaderEpoch: after CheckEpoch(current), the
// largest epoch at or below epoch and the offset where it ended, or
// (storage.UndefinedEpoch, storage.UndefinedEpochOffset). It is not bounded
// by the high watermark, for consumers either, as in Kafka.
func (p *Partition) LastOffsetForEpoch(current, epoch int32) (EpochEnd, error) {
	leaderEpoch, err := p.checkEpoch(current)
	if err != nil {
		return EpochEnd{storage.UndefinedEpoch, storage.UndefinedEpochOffset}, err
	}
	return p.endOffsetFor(leaderEpoch, epoch), nil
}

// endOffsetFor is the log's answer, plus the epoch this node leads at.
// Kafka puts a new leader's epoch in the cache at the log end when it takes
// leadership; storage records an epoch with its first batch. Until that
// batch, the answer is the one Kafka's cache would give: the leader's
// epoch starts at the log end. The log end is read first, so an append
// racing with the read cannot move the start of the leader's epoch.
func (p *Partition) endOffsetFor(leaderEpoch, epoch int32) EpochEnd {
	end := p.log.LogEndOffset()
	latest, ok := p.log.LatestEpoch()
	switch {
	case epoch == storage.UndefinedEpoch || ok && (epoch <= latest || latest >= leaderEpoch):
		e, off := p.log.EndOffsetForEpoch(epoch)
		return EpochEnd{e, off}
	case epoch > leaderEpoch:
		return EpochEnd{storage.UndefinedEpoch, storage.UndefinedEpochOffset}
	case epoch == leaderEpoch || !ok:
		return EpochEnd{epoch, end}
	}
	return EpochEnd{latest, end}
}

// Divergence checks a fetch's LastFetchedEpoch against this log as Kafka's
// Partition.readRecords does: non-nil when the fetcher's log diverged from
// this one (its last epoch ended earlier here, or its fetch offset is past
// that epoch's end), naming where it must truncate to; records are then
// not sent. An epoch this log cannot place, or an offset below the log
// start, is out of range.
func (p *Partition) Divergence(current, lastFetched int32, fetchOffset int64) (*EpochEnd, error) {
	if lastFetched == NoEpoch {
		return nil, nil
	}
	end, err := p.LastOffsetForEpoch(current, lastFetched)
	switch {
	case err != nil:
		return nil, err
	case end.Epoch == storage.UndefinedEpoch || end.EndOffset == storage.UndefinedEpochOffset:
		return nil, fmt.Errorf("%w: %s-%d has no end offset for last fetched epoch %d", storage.ErrOffsetOutOfRange, p.topic, p.partition, lastFetched)
	case fetchOffset < p.log.LogStartOffset():
		return nil, fmt.Errorf("%w: %s-%d offset %d is below the log start %d", storage.ErrOffsetOutOfRange, p.topic, p.partition, fetchOffset, p.log.LogStartOffset())
	case end.Epoch < lastFetched || end.EndOffset < fetchOffset:
		return &end, nil
	}
	return nil, nil
}

func (p *Partition) notLeader() error {
	return fmt.Errorf("%w: %s-%d", ErrNotLeader, p.topic, p.partition)
}
