package txn

import "github.com/eddy-streaming/eddy/internal/javahash"

// PartitionFor returns the __transaction_state partition that stores
// transactional id id, computed as Kafka does.
func PartitionFor(id string, numPartitions int32) int32 {
	return javahash.Partition(id, numPartitions)
}
