// Package javahash computes where Kafka places a coordinator key: the
// partition of __consumer_offsets for a group id, of __transaction_state
// for a transactional id. Clients and Kafka brokers agree on it, so Eddy
// must compute it the same way.
package javahash

// Partition returns Utils.abs(key.hashCode()) % numPartitions, as Kafka
// computes it: hashCode is Java's String.hashCode over UTF-16 code units
// and Utils.abs masks the sign bit (so Integer.MIN_VALUE maps to 0).
func Partition(key string, numPartitions int32) int32 {
	return (String(key) & 0x7fffffff) % numPartitions
}

// String is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1] over
// UTF-16 code units, with int32 overflow. Invalid UTF-8 bytes decode to
// U+FFFD, as Kafka's UTF-8 decoding of the key would.
func String(s string) int32 {
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
