// Package group is the consumer-group coordinator: it owns the classic
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
// offsets (OffsetCommit, OffsetFetch, OffsetDelete) and the group admin
// APIs (ListGroups, DescribeGroups, DeleteGroups) for the groups whose
// __consumer_offsets partition this broker leads, and the KIP-848 consumer
// group protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe) with
// server-side assignors; a group is either classic or consumer.
//
// Concurrency: each __consumer_offsets partition has one coordinator, a
// deterministic core (coordinator, group) with no goroutines, I/O or clock
// reads. A runner goroutine per partition owns its core and feeds it
// requests and timer ticks; the core answers with records to persist and
// replies to release once they are durable. JoinGroup and SyncGroup replies
// wait inside the core until the rebalance completes, so a waiting client
// never blocks its runner. Manager.Handle may be called from any goroutine.
//
// Durability: group metadata and committed offsets are written to the
// partition's log in Kafka's own key/value formats (docs/format/group.md)
// and fsynced before the reply that depends on them is released; on start
// each runner replays its partition log to rebuild its groups. KIP-848
// consumer groups are durable too (consumer_persist.go): each step that
// changes one writes Kafka's consumer group records for what changed, and
// after a restart members continue at their epochs.
package group
