// Package storage owns partition logs on local disk: segment files holding
// RecordBatch v2 bytes exactly as on the wire, their sparse offset and time
// indexes, recovery after a crash, producer state for idempotence and
// transactions, retention, DeleteRecords, the log cleaner of compacted
// logs, and what replication needs of a log: leader epochs, a high
// watermark, follower appends and truncation. For transactions it keeps,
// like Kafka's ProducerStateManager and UnifiedLog, each producer's ongoing
// transaction, a per-segment aborted transaction index, and the last
// stable offset (Log.LastStableOffset, Log.ReadCommitted, Log.AppendMarker).
// File formats are in docs/format/segment.md and docs/format/txnindex.md;
// compaction is described in docs/compaction.md. With Config.Keys every
// batch is stored encrypted (AES-256-GCM, its header in the clear; see
// docs/format/encryption.md): the writer, the cleaner and follower appends
// encrypt, everything that reads records decrypts, and reads of an
// encrypted log return Chunks in memory instead of file ranges.
//
// Concurrency contract:
//   - A Manager and its Logs are safe for concurrent use.
//   - Each Log has one writer goroutine, started on demand and awaited by
//     Close. It owns the active segment's file offset, the producer state
//     and segment rolls. Appends are validated in the caller's goroutine,
//     queued, and group-committed: one write and at most one fsync per
//     drain of the queue.
//   - Readers take a short snapshot (segment list, sizes, watermarks) under
//     Log.mu and then read files without any lock; bytes below a snapshot's
//     size are immutable until the segment is deleted. Segments that
//     retention, DeleteRecords or the cleaner delete are renamed to
//     .deleted and stay readable for file.delete.delay.ms; a deleted
//     topic's directory goes at once.
//   - Segment files are opened on demand through the Manager's fileCache,
//     which keeps at most Config.MaxOpenFiles of them open and closes the
//     least recently used idle one to open another. Every file operation
//     pins its file for its own duration; a Chunk pins its file until
//     Release, so neither eviction nor deletion closes a file under an
//     in-flight sendfile. When every open file is pinned the cache goes
//     over its limit rather than fail. The cache's mutex is never held
//     across I/O; a per-file mutex serialises opening and renaming one
//     file.
//   - A log whose files are as a clean close left them is opened without
//     writing anything; its checkpoint is marked unclean (Log.ckpt) before
//     its files first change, and a log never changed needs nothing at
//     close. So opening and closing thousands of idle logs costs reads,
//     and a crash recovers only the logs that changed.
//   - CreateLogs creates logs unpublished and makes them durable with one
//     syncfs; the caller records them elsewhere (the broker's metadata)
//     and then publishes or discards them, so a topic is created all or
//     nothing.
//   - Replication primitives: AppendAsFollower, TruncateTo and
//     TruncateFullyAndStartAt go through the same writer as Append, so they
//     are ordered with appends; the truncations also hold adminMu. A
//     truncation bumps Log.mu.truncations before it changes files and
//     again when it publishes, so a reader whose snapshot it cut (or a
//     cleaning planned before it) fails with ErrLogTruncated
//     (or aborts) instead of taking the log offline. The leader-epoch cache
//     (Log.mu.epochs) is published with the batches that extend it; the
//     high watermark follows the log end unless Config.ManualHighWatermark.
//   - Transaction state: the writer owns each producer's ongoing
//     transaction (Log.w.producers) and decides, when it stages a batch,
//     what it begins or ends; the transactions holding the last stable
//     offset back (Log.mu.txns) and the segments' aborted transaction
//     entries (segState.aborted, appended to, never changed in place) are
//     published with the group that writes them. A truncation recomputes
//     both from the producer snapshot and the batches.
//   - No lock is held across disk I/O, except Log.adminMu which serializes
//     the rare operations on closed segments (retention, DeleteRecords, the
//     cleaner's segment swaps) against each other and never blocks appends
//     or reads, Log.ckpt which serializes writes of the checkpoint file,
//     and each segment file's openMu (opening and renaming that file).
//   - The Manager owns the cleaner threads (started by Open, awaited by
//     Close). A cleaner reads closed segments without locks, writes new
//     files, and swaps them into Log.mu.segments under adminMu; a log is
//     cleaned by at most one thread at a time, never its active segment nor
//     a segment reaching above the high watermark (a follower may truncate
//     there). A truncation lowers the cleaner's first dirty offset
//     (Log.mu.cleanedTo and its file) to the new end before it cuts.
//   - Bytes found on disk at open are trusted only once verified: readers
//     verify (CRC, framing, offsets) the unverified part of a chunk before
//     handing it out, and a background goroutine owned by the Manager
//     verifies the rest at a bounded rate. A batch that fails, or one below
//     the recovery point that fails recovery, takes the log offline
//     (Log.Offline, ErrStorage plus ErrLogCorrupt) instead of truncating
//     acknowledged data; see "Verification" in docs/format/segment.md.
//   - A failed write, fsync or roll fails every append of that group
//     commit, and reads keep serving what was published before. A group
//     that asks for an fsync is published only after it, so readers never
//     see bytes whose append failed. The failed group's bytes are cut off
//     as far as the disk allows; recovery truncates what remains on reopen.
//   - Which failures are sticky (ErrStorage until the log is reopened):
//     every failed fsync (the kernel may have dropped the dirty pages, so a
//     later fsync could succeed without making them durable), every EIO or
//     other error, and any failure whose cleanup (truncating the segment
//     back, removing a rolled segment) failed. ENOSPC while writing data or
//     index bytes or creating a segment is not sticky: the group is undone
//     (files cut back, producer state and indexing marks restored), appends
//     are refused with it for DiskFullBackoff, and the next append after
//     that re-probes the disk (cut the active segment back to its published
//     size, fsync everything written since the last flush) before writing.
//     A re-probe that fails is sticky; once the disk has room the log is
//     writable again without a restart.
package storage

import (
	"errors"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Errors returned by this package. Corrupt or invalid input batches wrap
// record.ErrCorrupt or record.ErrInvalid.
var (
	ErrOffsetOutOfRange     = errors.New("storage: offset out of range")
	ErrRecordTooLarge       = errors.New("storage: record batch too large")
	ErrOutOfOrderSequence   = errors.New("storage: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	ErrUnknownProducerID    = errors.New("storage: unknown producer id")
	// ErrInvalidTxnState refuses a producer's non-transactional batch
	// while its transaction is ongoing (Kafka's INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("storage: invalid transaction state")
	// ErrTransactionCoordinatorFenced refuses an end-transaction marker
	// whose coordinator epoch is below the one of the producer's last
	// marker (Kafka's TRANSACTION_COORDINATOR_FENCED).
	ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")
	ErrClosed                       = errors.New("storage: closed")
	ErrLogDeleted                   = errors.New("storage: log deleted")
	// ErrStorage wraps a disk write, fsync or file creation failure of a
	// log (Kafka's KAFKA_STORAGE_ERROR). It is sticky, the log refusing
	// appends until it is reopened, except for ENOSPC while writing, which
	// is retried after DiskFullBackoff (see the package comment).
	ErrStorage = errors.New("storage: disk error")
	// ErrLogCorrupt is wrapped, together with ErrStorage, by the error of
	// a log taken offline because a stored batch failed its checks (see
	// Log.Offline).
	ErrLogCorrupt = errors.New("storage: corrupt batch on disk")
	// ErrLogTruncated fails a read that raced with TruncateTo or
	// TruncateFullyAndStartAt: bytes its snapshot promised were cut.
	// Reading again sees the truncated log.
	ErrLogTruncated = errors.New("storage: log truncated during read")
	// ErrFencedLeaderEpoch refuses batches whose leader epoch is below the
	// log's latest (Kafka's FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("storage: leader epoch older than the log's latest")
	// ErrOffsetMismatch refuses follower batches that do not start at the
	// log end offset or do not follow each other.
	ErrOffsetMismatch = errors.New("storage: batch offsets do not follow the log")

	// errCorruptFile marks a checkpoint, snapshot or index that fails its
	// checks; such files are rebuilt or ignored, never served.
	errCorruptFile = errors.New("storage: corrupt file")
)

// Aliases so callers of this package can match without importing record.
var (
	ErrCorrupt = record.ErrCorrupt
	ErrInvalid = record.ErrInvalid
)
