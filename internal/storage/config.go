package storage

import (
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-streaming/eddy/internal/atomicfile"
)

// TimestampType says which clock stamps a batch: the producer's
// (CreateTime) or the broker's at append (LogAppendTime).
type TimestampType int8

// The two message.timestamp.type values.
const (
	CreateTime TimestampType = iota
	LogAppendTime
)

// LogConfig is the per-partition policy, resolved from topic overrides and
// broker defaults by the layer above. Field comments name the Kafka config.
type LogConfig struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          int64         // segment.ms
	SegmentIndexBytes  int64         // segment.index.bytes
	IndexIntervalBytes int64         // index.interval.bytes
	RetentionMs        int64         // retention.ms, -1 keeps forever
	RetentionBytes     int64         // retention.bytes, -1 keeps everything
	FlushMessages      int64         // flush.messages: fsync after this many unflushed records
	FlushMs            int64         // flush.ms: fsync when the oldest unflushed write is this old
	MaxMessageBytes    int64         // max.message.bytes: largest batch accepted
	TimestampType      TimestampType // message.timestamp.type
	Compact            bool          // cleanup.policy contains compact
	Delete             bool          // cleanup.policy contains delete
	FileDeleteDelayMs  int64         // file.delete.delay.ms
	// The log cleaner's policy, used when Compact is set.
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones outlive their first cleaning
	// MinInsyncReplicas (min.insync.replicas) is not the log's business:
	// it is carried here, as in Kafka's LogConfig, so that replication
	// reads the topic's current value wherever the config is resolved.
	MinInsyncReplicas int64
}

// DefaultLogConfig returns Kafka's defaults.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour.Milliseconds(),
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        7 * 24 * time.Hour.Milliseconds(),
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		MaxMessageBytes:    1048588,
		TimestampType:      CreateTime,
		Delete:             true,
		FileDeleteDelayMs:  60000,

		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      24 * time.Hour.Milliseconds(),
		MinInsyncReplicas:      1,
	}
}

// Config configures a Manager.
type Config struct {
	Dir    string       // root holding one directory per partition
	Logger *slog.Logger // required
	// RetentionCheckInterval is log.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// CheckpointInterval is log.flush.offset.checkpoint.interval.ms: how
	// often recovery points are persisted.
	CheckpointInterval time.Duration
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// Reserve, if set, gives disk space back when a checkpoint write hits
	// ENOSPC, so that DeleteRecords and retention can free space on a
	// full disk. The metadata store owns it.
	Reserve *atomicfile.Reserve

	// CleanerThreads is log.cleaner.threads: goroutines compacting logs
	// with cleanup.policy=compact. 0 means DefaultCleanerThreads; a
	// negative value disables the cleaner (log.cleaner.enable=false).
	CleanerThreads int
	// CleanerBackoff is log.cleaner.backoff.ms: how long an idle cleaner
	// sleeps before looking for dirty logs again. A compacted log that
	// rolls a segment also wakes it.
	CleanerBackoff time.Duration
	// CleanerIOBytesPerSecond is log.cleaner.io.max.bytes.per.second: the
	// cleaners' combined read plus write rate. 0 means unlimited.
	CleanerIOBytesPerSecond float64
	// CleanerDedupeBufferSize is log.cleaner.dedupe.buffer.size: the
	// memory for the key→offset map of one cleaning, shared by threads.
	CleanerDedupeBufferSize int64

	// LogConfig resolves the config of a log found on disk by Open (its
	// index.interval.bytes decides how indexes are rebuilt). Nil means
	// DefaultLogConfig until CreateLog or SetConfig applies the real one.
	LogConfig func(topic string) LogConfig
	// VerifyBytesPerSecond is eddy.log.verify.bytes.per.second: the rate
	// at which the background verifier checks the segments found on disk
	// at Open. 0 means DefaultVerifyBytesPerSecond; a negative value
	// disables it (reads still verify what they serve).
	VerifyBytesPerSecond float64
	// MaxOpenFiles is eddy.log.max.open.files: the segment files kept
	// open at once, least recently used closed first. Files in use (being
	// written, or pinned by a Chunk) can take it over. 0 means
	// DefaultMaxOpenFiles.
	MaxOpenFiles int
	// ManualHighWatermark makes each log's high watermark what
	// SetHighWatermark says (replication: the ISR's committed offset),
	// persisted in its high-watermark file, instead of following the log
	// end offset as on a single node.
	ManualHighWatermark bool
	// Keys turns on encryption at rest: batches are written encrypted with
	// the first key, and read with whichever key they name. Nil leaves new
	// data plain, and Open refuses a directory holding encrypted data
	// (docs/format/encryption.md).
	Keys *Keyring
	// Registerer receives the Manager's series (metrics.go), unregistered
	// at Close; nil leaves metrics off.
	Registerer prometheus.Registerer
	// MetricsTopicLabels adds eddy_log_size_bytes and eddy_log_segments
	// per partition (eddy.metrics.topic.labels); the node totals are
	// always reported.
	MetricsTopicLabels bool

	// swapHook, set only by tests, runs after each step of a cleaned
	// segment swap; an error stops the swap there, as a crash would.
	swapHook func(step string) error
	// plain, set only by tests, keeps a Manager without Keys plain under
	// EDDY_TEST_ENCRYPTION (testKeys).
	plain bool
}
