// Package coordinator owns the machinery shared by the group and the
// transaction coordinators around their deterministic cores: a Registry
// electing and resigning one Runner per internal-topic partition, the
// Runner goroutine that feeds a core requests, events and ticks, appends
// the core's records with acks=all and only then releases the replies that
// depend on them, and Replay, which rebuilds a core from its partition's log.
//
// Concurrency: each Runner's core is owned by its run goroutine; Do and
// Post are safe from any goroutine. Elect, Resign and Close are serialized.
package coordinator
