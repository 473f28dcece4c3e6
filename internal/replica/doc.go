// Package replica owns this node's replicas of partitions: for each, its
// storage log, leader epoch, role, in-sync replica set, high watermark and
// the produce requests waiting for the high watermark (acks=all). It sits
// between internal/broker, which turns Kafka requests into calls on a
// Partition, and internal/storage, which holds the bytes. Replication
// itself (followers fetching, the ISR shrinking and growing, truncation on
// a leader change) lands here; today every partition is led by this node
// alone, so the high watermark is the log's and acks=all waiters are
// released as soon as their append returns.
//
// Concurrency contract:
//   - A Manager and its Partitions are safe for concurrent use. The
//     Manager's registry and each Partition's role, epoch and ISR are
//     guarded by a mutex declared next to them; none is held across I/O.
//   - A produce with acks=all waits in the Partition's purgatory, on its own
//     channel, until the high watermark passes its last offset, its timeout
//     ends, its client hangs up or the partition stops being led here. The
//     purgatory's mutex is held only to add, remove or wake waiters, so a
//     waiting produce never blocks other produces, fetches or waiters.
//   - Whoever advances the high watermark wakes the purgatory after the
//     advance is visible; a waiter reads the high watermark after it is
//     registered, so no advance is missed.
//   - Storage errors pass through unchanged (they already name the log, and
//     their text reaches clients as error messages), so the broker maps them
//     as before; this package adds ErrNotLeader, ErrUnknownPartition and
//     the epoch checks' ErrFencedEpoch and ErrUnknownEpoch.
package replica

import "errors"

// Errors returned by this package.
var (
	// ErrNotLeader: this node has the partition but does not lead it
	// (Kafka's NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("replica: not leader")
	// ErrUnknownPartition: this node has no replica of the partition
	// (Kafka's UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownPartition = errors.New("replica: unknown partition")
	// ErrStaleEpoch: a leadership change names an epoch older than the
	// partition's; it is ignored, as Kafka ignores a stale LeaderAndIsr.
	ErrStaleEpoch = errors.New("replica: stale leader epoch")
	// ErrFencedEpoch: a request's current leader epoch is older than the
	// partition's (Kafka's FENCED_LEADER_EPOCH).
	ErrFencedEpoch = errors.New("replica: fenced leader epoch")
	// ErrUnknownEpoch: a request's current leader epoch is newer than the
	// partition's (Kafka's UNKNOWN_LEADER_EPOCH).
	ErrUnknownEpoch = errors.New("replica: unknown leader epoch")
	// ErrNotEnoughReplicas: an acks=all produce refused before its append
	// because the ISR is below min.insync.replicas (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("replica: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: an acks=all produce appended but not
	// replicated because the ISR fell below min.insync.replicas
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: not enough in-sync replicas after append")
)
