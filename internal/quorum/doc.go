// Package quorum replicates the cluster metadata with Raft: etcd's raft
// library (go.etcd.io/raft/v3, RawNode) for the consensus, and Eddy's own
// WAL, snapshot file and transport around it (docs/cluster.md says why
// this library; docs/format/quorum.md gives the files).
//
// Concurrency contract: a Node's raft state, WAL and state machine are
// owned by its run goroutine; every other goroutine reaches them through
// channels (Propose, Step, Status, Report*). The state machine's methods
// run on that goroutine, in log order, and must not call back into the
// Node. Close waits for the goroutine.
package quorum
