package bench

import (
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets, the layout HdrHistogram
// uses: values below 2*subBuckets are exact, and every power of two above is
// split into subBuckets equal buckets, so a reported value is within
// 1/subBuckets (under 0.8%) of the true one. It covers every int64 in a fixed
// 59 KB array and is not safe for concurrent use: each producer owns one and
// they are merged at the end.
type histogram struct {
	counts [bucketCount]uint64
	total  uint64
	max    int64
}

const (
	subBits     = 7
	subBuckets  = 1 << subBits
	bucketCount = (64 - subBits) * subBuckets
)

// bucketOf returns the index of the bucket holding v (v >= 0).
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketHigh returns the largest value bucket i holds, so percentiles err
// on the pessimistic side.
func bucketHigh(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	m := uint64(i - shift*subBuckets)
	return (m+1)<<shift - 1
}

// record adds one duration; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))]++
	h.total++
	h.max = max(h.max, v)
}

// merge adds every count of o to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the smallest bucket bound at or below which a fraction q
// (0..1) of the recorded values fall; zero when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(int64(bucketHigh(i)), h.max))
		}
	}
	return time.Duration(h.max)
}
