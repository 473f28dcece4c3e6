package storage

// The Manager's Prometheus series. Sizes and counts are read at scrape
// time from the in-memory segment lists (each log's lock held for a sum),
// never from the disk, so a scrape stays cheap at thousands of logs. The
// fsync histogram is observed by the file cache, around each fsync of a
// segment file, and around the syncfs that makes new logs durable.

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fsyncBuckets span a page-cache-only fsync (tens of µs) to a stalled disk.
var fsyncBuckets = prometheus.ExponentialBuckets(50e-6, 2.5, 14) // 50µs .. ~7.5s

func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "eddy_log_fsync_duration_seconds",
		Help:    "Time of each fsync of a segment file (data, indexes) and of each syncfs making new logs durable.",
		Buckets: fsyncBuckets,
	})
}

// observeSince records an fsync that began at start.
func (c *fileCache) observeSince(start time.Time) {
	if c.fsync != nil {
		c.fsync.Observe(time.Since(start).Seconds())
	}
}

// registerMetrics registers the Manager's series on cfg.Registerer; a nil
// Registerer leaves metrics off (the histogram is still observed, into
// nothing anyone reads).
func (m *Manager) registerMetrics(fsync prometheus.Histogram) error {
	reg := m.cfg.Registerer
	if reg == nil {
		return nil
	}
	stats := func(f func(CleanerStats) int64) func() float64 {
		return func() float64 { return float64(f(m.CleanerStats())) }
	}
	cs := []prometheus.Collector{
		fsync,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eddy_log_cleaner_runs_total",
			Help: "Log cleanings (compactions) completed: each swapped cleaned segments in.",
		}, stats(func(s CleanerStats) int64 { return s.Runs })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eddy_log_cleaner_bytes_read_total",
			Help: "Bytes the log cleaner read in completed cleanings.",
		}, stats(func(s CleanerStats) int64 { return s.BytesRead })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eddy_log_cleaner_bytes_written_total",
			Help: "Bytes the log cleaner wrote in completed cleanings.",
		}, stats(func(s CleanerStats) int64 { return s.BytesWritten })),
		&sizeCollector{m: m, perLog: m.cfg.MetricsTopicLabels},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
		m.collectors = append(m.collectors, c)
	}
	return nil
}

var (
	logSizeDesc = prometheus.NewDesc("eddy_log_size_bytes",
		"Bytes in the segments of this node's replica of the partition.", []string{"topic", "partition"}, nil)
	logSegmentsDesc = prometheus.NewDesc("eddy_log_segments",
		"Segments of this node's replica of the partition.", []string{"topic", "partition"}, nil)
	nodeSizeDesc = prometheus.NewDesc("eddy_node_log_size_bytes",
		"Bytes in the segments of every partition log on this node.", nil, nil)
	nodeSegmentsDesc = prometheus.NewDesc("eddy_node_log_segments",
		"Segments of every partition log on this node.", nil, nil)
	nodePartitionsDesc = prometheus.NewDesc("eddy_node_partitions",
		"Partition logs (replicas) on this node.", nil, nil)
)

// sizeCollector reports log sizes and segment counts at scrape time.
// perLog adds a series per partition (eddy.metrics.topic.labels).
type sizeCollector struct {
	m      *Manager
	perLog bool
}

func (c *sizeCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.perLog {
		ch <- logSizeDesc
		ch <- logSegmentsDesc
	}
	ch <- nodeSizeDesc
	ch <- nodeSegmentsDesc
	ch <- nodePartitionsDesc
}

func (c *sizeCollector) Collect(ch chan<- prometheus.Metric) {
	logs := c.m.logs()
	var size, segs int64
	for _, l := range logs {
		n, s := l.sizeAndSegments()
		size, segs = size+n, segs+int64(s)
		if c.perLog {
			p := strconv.Itoa(int(l.partition))
			ch <- prometheus.MustNewConstMetric(logSizeDesc, prometheus.GaugeValue, float64(n), l.topic, p)
			ch <- prometheus.MustNewConstMetric(logSegmentsDesc, prometheus.GaugeValue, float64(s), l.topic, p)
		}
	}
	ch <- prometheus.MustNewConstMetric(nodeSizeDesc, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(nodeSegmentsDesc, prometheus.GaugeValue, float64(segs))
	ch <- prometheus.MustNewConstMetric(nodePartitionsDesc, prometheus.GaugeValue, float64(len(logs)))
}

// sizeAndSegments returns the committed bytes of the log's segments and
// how many there are.
func (l *Log) sizeAndSegments() (int64, int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.st.size
	}
	return n, len(l.mu.segments)
}
