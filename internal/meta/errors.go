package meta

import "errors"

// Sentinel errors. Callers match them with errors.Is; the Kafka API
// handlers map them to error codes.
var (
	ErrTopicExists              = errors.New("meta: topic already exists")
	ErrUnknownTopic             = errors.New("meta: unknown topic")
	ErrInvalidTopic             = errors.New("meta: invalid topic name")
	ErrInvalidPartitions        = errors.New("meta: invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("meta: invalid replication factor")
	ErrInvalidReplicaAssignment = errors.New("meta: invalid replica assignment")
	ErrCorrupt                  = errors.New("meta: corrupt state file")
	// ErrInvalidRecord is a record that cannot be decoded or does not fit
	// the image it is applied to.
	ErrInvalidRecord = errors.New("meta: invalid record")
	// ErrStaleBrokerEpoch refuses a broker registration of an incarnation
	// no newer than the registered one.
	ErrStaleBrokerEpoch = errors.New("meta: stale broker epoch")
	// ErrStalePartitionEpoch refuses a partition change that does not
	// follow the partition's current epochs: it was proposed against an
	// older image (a stale leader, a raced controller).
	ErrStalePartitionEpoch = errors.New("meta: stale partition epoch")
	// ErrStaleProducerIDs refuses a producer id block that does not start
	// where the last one ended (two brokers asked at once).
	ErrStaleProducerIDs = errors.New("meta: stale producer id block")
	// ErrStorage wraps a failure to write the state file (a full disk even
	// after the reserve gave its space back, or an I/O error). Nothing
	// changed when it is returned.
	ErrStorage = errors.New("meta: cannot write the metadata file")
)
