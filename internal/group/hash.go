package group

import "github.com/eddy-streaming/eddy/internal/javahash"

// PartitionFor returns the __consumer_offsets partition that stores
// groupID, computed as Kafka does.
func PartitionFor(groupID string, numPartitions int32) int32 {
	return javahash.Partition(groupID, numPartitions)
}
