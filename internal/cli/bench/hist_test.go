package bench

import (
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 123456789, 1 << 40, 1<<63 - 1} {
		i := bucketOf(v)
		if i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, past %d buckets", v, i, bucketCount)
		}
		hi := bucketHigh(i)
		if hi < v || float64(hi-v) > float64(v)/subBuckets {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d: outside 1/%d", v, hi, subBuckets)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("bucket %d below %d's bucket still holds it", i-1, v)
		}
	}
}

func TestQuantiles(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		fill func(*histogram)
		q    float64
		want time.Duration
	}{
		{"empty", func(*histogram) {}, 0.5, 0},
		{"one value", func(h *histogram) { h.record(3 * ms) }, 0.999, 3 * ms},
		{"uniform p50", uniform(1000), 0.50, 500 * ms},
		{"uniform p99", uniform(1000), 0.99, 990 * ms},
		{"uniform p999", uniform(1000), 0.999, 999 * ms},
		{"uniform p100", uniform(1000), 1, 1000 * ms},
		{"tail p99", twoLevels(990, ms, 10, 100*ms), 0.99, ms},
		{"tail p999", twoLevels(990, ms, 10, 100*ms), 0.999, 100 * ms},
		{"negative is zero", func(h *histogram) { h.record(-ms) }, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			tt.fill(&h)
			got := h.quantile(tt.q)
			if !within(got, tt.want, 1.0/subBuckets) {
				t.Errorf("quantile(%v) = %v, want %v within 1/%d", tt.q, got, tt.want, subBuckets)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	var a, b histogram
	uniform(500)(&a)
	for i := 501; i <= 1000; i++ {
		b.record(time.Duration(i) * time.Millisecond)
	}
	a.merge(&b)
	if a.total != 1000 || a.max != int64(1000*time.Millisecond) {
		t.Fatalf("merged total %d max %d", a.total, a.max)
	}
	if got := a.quantile(0.5); !within(got, 500*time.Millisecond, 1.0/subBuckets) {
		t.Errorf("merged p50 = %v", got)
	}
}

// uniform records 1ms, 2ms, ... n ms.
func uniform(n int) func(*histogram) {
	return func(h *histogram) {
		for i := 1; i <= n; i++ {
			h.record(time.Duration(i) * time.Millisecond)
		}
	}
}

// twoLevels records n1 values of d1 then n2 of d2.
func twoLevels(n1 int, d1 time.Duration, n2 int, d2 time.Duration) func(*histogram) {
	return func(h *histogram) {
		for range n1 {
			h.record(d1)
		}
		for range n2 {
			h.record(d2)
		}
	}
}

func within(got, want time.Duration, rel float64) bool {
	diff := float64(got - want)
	return diff >= 0 && diff <= rel*float64(want)
}
