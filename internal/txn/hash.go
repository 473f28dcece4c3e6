package txn

// PartitionFor returns the __transaction_state partition that stores
// transactional id id, as Kafka computes it: Utils.abs(id.hashCode()) %
// numPartitions, where hashCode is Java's String.hashCode over UTF-16
// code units and Utils.abs masks the sign bit. (internal/group computes
// the same for group ids; the few lines are repeated here rather than
// making txn import the group coordinator.)
func PartitionFor(id string, numPartitions int32) int32 {
	return (javaStringHash(id) & 0x7fffffff) % numPartitions
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over UTF-16 code units, with int32 overflow. Invalid UTF-8 decodes to
// U+FFFD, as Kafka's UTF-8 decoding of the id would.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xd800+(r>>10))
			h = 31*h + int32(0xdc00+(r&0x3ff))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}
