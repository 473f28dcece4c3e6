package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gathered is a registry's samples by "name{label=value,...}"; a
// histogram contributes its sample count.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			out[key] = sampleValue(mf.GetType(), m)
		}
	}
	return out
}

func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

func openMetricsManager(t *testing.T, dir string, reg prometheus.Registerer, topicLabels bool) *Manager {
	t.Helper()
	m, err := Open(context.Background(), Config{Dir: dir, Logger: testLogger(t), RetentionCheckInterval: time.Hour,
		Registerer: reg, MetricsTopicLabels: topicLabels})
	must(t, err)
	return m
}

// TestMetricsSizesAndFsync checks the size collector against the logs'
// own sizes, and that a synced append is timed by the fsync histogram.
func TestMetricsSizesAndFsync(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	m := openMetricsManager(t, dir, reg, true)
	defer m.Close()
	tps := []struct {
		topic string
		p     int32
		n     int // synced batches appended
	}{{"a", 0, 0}, {"a", 1, 3}, {"b.x_y", 0, 40}}
	logs := map[string]*Log{}
	for _, tp := range tps {
		l, err := m.CreateLog(tp.topic, tp.p, smallConfig())
		must(t, err)
		logs[fmt.Sprintf("partition=%d,topic=%s", tp.p, tp.topic)] = l
	}
	before := gathered(t, reg)["eddy_log_fsync_duration_seconds"]
	if before < 1 {
		t.Fatalf("creating logs observed %v fsyncs (syncfs), want at least 1", before)
	}
	for _, tp := range tps {
		for i := range tp.n {
			mustAppend(t, m.Log(tp.topic, tp.p), batchAt(i, 5, 0), true)
		}
	}
	got := gathered(t, reg)
	if after := got["eddy_log_fsync_duration_seconds"]; after < before+43 {
		t.Fatalf("fsync observations went from %v to %v over 43 synced appends", before, after)
	}
	var size, segs float64
	for labels, l := range logs {
		n, s := l.sizeAndSegments()
		if got["eddy_log_size_bytes{"+labels+"}"] != float64(n) || got["eddy_log_segments{"+labels+"}"] != float64(s) {
			t.Errorf("%s: scraped size %v segments %v, log has %d bytes in %d segments", labels,
				got["eddy_log_size_bytes{"+labels+"}"], got["eddy_log_segments{"+labels+"}"], n, s)
		}
		size, segs = size+float64(n), segs+float64(s)
	}
	if segs <= 3 || size == 0 {
		t.Fatalf("the test meant to roll segments: %v bytes in %v segments", size, segs)
	}
	if got["eddy_node_log_size_bytes"] != size || got["eddy_node_log_segments"] != segs || got["eddy_node_partitions"] != 3 {
		t.Errorf("node totals: size %v segments %v partitions %v; want %v, %v, 3", got["eddy_node_log_size_bytes"],
			got["eddy_node_log_segments"], got["eddy_node_partitions"], size, segs)
	}
	must(t, m.DeleteTopic("a"))
	got = gathered(t, reg)
	if _, ok := got["eddy_log_size_bytes{partition=1,topic=a}"]; ok || got["eddy_node_partitions"] != 1 {
		t.Errorf("after deleting topic a: %v partitions, a-1 still reported: %v", got["eddy_node_partitions"], ok)
	}

	// Close takes the series off the registry, so a Manager reopened on it
	// registers again.
	must(t, m.Close())
	if got := gathered(t, reg); len(got) != 0 {
		t.Fatalf("series left after Close: %v", got)
	}
	m2 := openMetricsManager(t, dir, reg, true)
	defer m2.Close()
	if got := gathered(t, reg); got["eddy_node_partitions"] != 1 {
		t.Fatalf("after reopening: %v partitions", got["eddy_node_partitions"])
	}
}

// TestMetricsTopicLabelsOff checks that without topic labels only node
// totals are reported, and that a nil Registerer is accepted.
func TestMetricsTopicLabelsOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := openMetricsManager(t, t.TempDir(), reg, false)
	defer m.Close()
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, batchAt(0, 5, 0), true)
	got := gathered(t, reg)
	for k := range got {
		if strings.Contains(k, "topic=") || strings.HasPrefix(k, "eddy_log_size_bytes") || strings.HasPrefix(k, "eddy_log_segments") {
			t.Errorf("per-partition series %s with topic labels off", k)
		}
	}
	if got["eddy_node_log_size_bytes"] != float64(l.Size()) || got["eddy_node_partitions"] != 1 {
		t.Errorf("node totals %v", got)
	}

	off := openMetricsManager(t, t.TempDir(), nil, true)
	defer off.Close()
	mustAppend(t, createLog(t, off, smallConfig()), batchAt(0, 5, 0), true)
}

// TestMetricsCleaner checks the cleaner counters after background
// cleanings.
func TestMetricsCleaner(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := Open(context.Background(), Config{Dir: t.TempDir(), Logger: testLogger(t), RetentionCheckInterval: time.Hour,
		CleanerBackoff: 10 * time.Millisecond, Registerer: reg})
	must(t, err)
	defer m.Close()
	got := gathered(t, reg)
	for _, name := range []string{"eddy_log_cleaner_runs_total", "eddy_log_cleaner_bytes_read_total", "eddy_log_cleaner_bytes_written_total"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Fatalf("%s before any cleaning: %v (present %v)", name, v, ok)
		}
	}
	l := createLog(t, m, compactConfig())
	appendUpdates(t, l, 3000, 50)
	// A cleaning may start while the updates are still being appended and
	// find nothing to remove yet; the ones after it remove the duplicates.
	waitFor(t, func() bool {
		got = gathered(t, reg)
		read, written := got["eddy_log_cleaner_bytes_read_total"], got["eddy_log_cleaner_bytes_written_total"]
		if written > read {
			t.Fatalf("the cleaner wrote %v bytes, more than the %v it read", written, read)
		}
		return got["eddy_log_cleaner_runs_total"] > 0 && written > 0 && written < read
	})
}
