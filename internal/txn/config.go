package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Coordinator. Start from DefaultConfig.
type Config struct {
	// NumPartitions is transaction.state.log.num.partitions: ids map to
	// partitions by PartitionFor.
	NumPartitions int32
	// MaxTimeout is transaction.max.timeout.ms: InitProducerId with a
	// longer transaction timeout fails INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms: an id idle this long
	// with no transaction open is expired (a tombstone is written).
	IDExpiration time.Duration
	// AbortCheckInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms: how
	// often Tick looks for transactions past their timeout.
	AbortCheckInterval time.Duration
	// ExpiryCheckInterval is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	ExpiryCheckInterval time.Duration
	// TransactionVersion is the cluster's finalized transaction.version
	// (0–2). From 1 the values written are version 1 (flexible); at 2 the
	// coordinator's own aborts (timeouts, fencing) bump the epoch as a
	// transaction version 2 EndTxn does.
	TransactionVersion int16
	// MaxValueBytes bounds one encoded value; a transaction whose record
	// would be larger (too many partitions) is refused as Kafka refuses
	// a record over max.message.bytes: UNKNOWN_SERVER_ERROR.
	MaxValueBytes int
	// NextProducerID hands out a new producer id (IDAllocator.Next).
	// It may block on a quorum round trip once per block.
	NextProducerID func() (int64, error)
	// OffsetsPartition returns the __consumer_offsets partition of a
	// group (group.PartitionFor), for AddOffsetsToTxn.
	OffsetsPartition func(group string) int32
	// PartitionExists reports whether a partition may join a
	// transaction; nil means every partition exists.
	PartitionExists func(topic string, partition int32) bool
	// Logger receives the coordinator's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns Kafka's defaults; the callbacks are left to set.
func DefaultConfig() Config {
	return Config{
		NumPartitions:       50,
		MaxTimeout:          15 * time.Minute,
		IDExpiration:        7 * 24 * time.Hour,
		AbortCheckInterval:  10 * time.Second,
		ExpiryCheckInterval: time.Hour,
		TransactionVersion:  tv2,
		MaxValueBytes:       1 << 20,
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("txn: NumPartitions %d < 1", c.NumPartitions)
	case c.MaxTimeout < time.Millisecond:
		return fmt.Errorf("txn: MaxTimeout %v under 1ms", c.MaxTimeout)
	case c.IDExpiration < time.Millisecond || c.AbortCheckInterval < time.Millisecond || c.ExpiryCheckInterval < time.Millisecond:
		return errors.New("txn: IDExpiration, AbortCheckInterval and ExpiryCheckInterval must be at least 1ms")
	case c.TransactionVersion < tv0 || c.TransactionVersion > tv2:
		return fmt.Errorf("txn: TransactionVersion %d not in 0..2", c.TransactionVersion)
	case c.MaxValueBytes < 64:
		return fmt.Errorf("txn: MaxValueBytes %d < 64", c.MaxValueBytes)
	case c.NextProducerID == nil:
		return errors.New("txn: NextProducerID is nil")
	case c.OffsetsPartition == nil:
		return errors.New("txn: OffsetsPartition is nil")
	}
	return nil
}

// valueVersion is the __transaction_state value version written.
func (c *Config) valueVersion() int16 {
	if c.TransactionVersion >= tv1 {
		return 1
	}
	return 0
}
