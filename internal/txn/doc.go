// Package txn owns producer identity and transactions: the allocation of
// producer IDs that never repeat across restarts (IDAllocator), and the
// transaction coordinator (Coordinator) that runs Kafka's transaction
// protocol — InitProducerId, AddPartitionsToTxn (including the KIP-890
// verify-only check brokers send), AddOffsetsToTxn, EndTxn (transaction
// versions 1 and 2), DescribeTransactions and ListTransactions — for the
// transactional ids of one __transaction_state partition.
//
// Concurrency: an IDAllocator is safe for concurrent use. A Coordinator
// is a deterministic core with no goroutines, I/O or clock reads, and is
// not safe for concurrent use: one goroutine (a runner) owns it, feeds it
// requests, the time, replayed records and marker results, and takes from
// Ready the records to append to the partition's log and the transaction
// markers to write. The runner sends a step's responses, and writes its
// markers, only once the step's records are durable; if an append fails,
// the core is ahead of the log and must be discarded and rebuilt by
// replaying the log.
//
// Durability: the state of each transactional id is one record of the
// compacted topic __transaction_state, in Kafka's own key and value
// formats (docs/format/txn-state.md); replaying a partition's records
// rebuilds its coordinator, and a transaction left in PrepareCommit or
// PrepareAbort resumes writing its markers.
package txn
