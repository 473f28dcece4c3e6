package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

// clockStart is the fake clock's start; dumps print times relative to it.
const clockStart = 1_700_000_000_000

// cleanerHarness drives one compacted log through a golden script.
type cleanerHarness struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	lc    LogConfig
	m     *Manager
	l     *Log
	hook  func(string) error
}

// TestCleanerGolden runs testdata/cleaner/*.txt. Commands:
//
//	open [segment-bytes=N] [min-lag=MS] [max-lag=MS] [delete-retention=MS] [ratio=F] [delete]
//	append [codec=C] [ts=+MS] [producer=ID] [seq=N] [txn]  one batch; lines "key=value",
//	                                                  "key=<nil>" (tombstone), "<nokey>=value"
//	marker producer=ID commit|abort                   end the producer's transaction
//	roll | advance ms=N | clean | dump | table | committed | txnindex | lso | reopen [crash]
func TestCleanerGolden(t *testing.T) {
	datadriven.Walk(t, "testdata/cleaner", func(t *testing.T, path string) {
		h := &cleanerHarness{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.UnixMilli(clockStart)}}
		defer func() {
			if h.m != nil {
				h.m.Close()
			}
		}()
		datadriven.RunTest(t, path, h.run)
	})
}

func (h *cleanerHarness) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "open":
		h.lc = compactConfig()
		for _, a := range td.CmdArgs {
			h.setConfig(a.Key, a.Vals)
		}
		h.open()
		return ""
	case "append":
		return h.append(td)
	case "roll":
		must(t, h.l.requestRoll(context.Background()))
		return ""
	case "advance":
		var ms int64
		td.ScanArgs(t, "ms", &ms)
		h.clock.advance(time.Duration(ms) * time.Millisecond)
		return ""
	case "clean":
		return h.clean()
	case "dump":
		return dumpLog(t, h.l)
	case "table":
		return formatTable(logTable(t, h.l))
	case "committed":
		return formatTable(committedTable(t, h.l))
	case "marker":
		return h.marker(td)
	case "txnindex":
		return formatTxnIndex(txnIndexes(t, h.l))
	case "lso":
		return fmt.Sprintf("last stable offset %d, high watermark %d\n", h.l.LastStableOffset(), h.l.HighWatermark())
	case "reopen":
		if td.HasArg("crash") {
			crash(t, h.m)
		} else {
			must(t, h.m.Close())
		}
		h.open()
		return ""
	}
	t.Fatalf("unknown command %s", td.Cmd)
	return ""
}

func compactConfig() LogConfig {
	lc := smallConfig()
	lc.Compact, lc.Delete = true, false
	lc.MinCleanableDirtyRatio = 0.01
	lc.SegmentMs = math.MaxInt64
	return lc
}

func (h *cleanerHarness) setConfig(key string, vals []string) {
	n := func() int64 {
		v, err := strconv.ParseInt(vals[0], 10, 64)
		must(h.t, err)
		return v
	}
	switch key {
	case "segment-bytes":
		h.lc.SegmentBytes = n()
	case "min-lag":
		h.lc.MinCompactionLagMs = n()
	case "max-lag":
		h.lc.MaxCompactionLagMs = n()
	case "delete-retention":
		h.lc.DeleteRetentionMs = n()
	case "ratio":
		f, err := strconv.ParseFloat(vals[0], 64)
		must(h.t, err)
		h.lc.MinCleanableDirtyRatio = f
	case "delete":
		h.lc.Delete = true
	default:
		h.t.Fatalf("unknown open argument %s", key)
	}
}

func (h *cleanerHarness) open() {
	cfg := Config{Dir: h.dir, Logger: testLogger(h.t), RetentionCheckInterval: time.Hour,
		Now: h.clock.now, CleanerThreads: -1, swapHook: h.hook}
	m, err := Open(context.Background(), cfg)
	must(h.t, err)
	h.m = m
	h.l = createLog(h.t, m, h.lc)
}

var codecs = map[string]record.Codec{"none": record.None, "gzip": record.Gzip, "snappy": record.Snappy, "lz4": record.LZ4, "zstd": record.Zstd}

func (h *cleanerHarness) append(td *datadriven.TestData) string {
	o := recordtest.Options{BaseTimestamp: h.clock.now().UnixMilli()}
	if td.HasArg("codec") {
		var c string
		td.ScanArgs(h.t, "codec", &c)
		o.Codec = codecs[c]
	}
	if td.HasArg("ts") {
		var ts int64
		td.ScanArgs(h.t, "ts", &ts)
		o.BaseTimestamp = clockStart + ts
	}
	if td.HasArg("producer") {
		o.Producer = &recordtest.Producer{}
		td.ScanArgs(h.t, "producer", &o.Producer.ID)
		td.ScanArgs(h.t, "seq", &o.Producer.Sequence)
		o.Transactional = td.HasArg("txn")
	}
	res, err := h.l.Append(context.Background(), recordtest.Batch(o, parseRecords(td.Input)), AppendOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("offset %d", res.BaseOffset)
}

// parseRecords reads "key=value" lines; <nil> is a null value and <nokey>
// a null key.
func parseRecords(input string) []record.Record {
	var recs []record.Record
	for i, line := range strings.Split(strings.TrimSpace(input), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		r := record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte(k), Value: []byte(v)}
		if k == "<nokey>" {
			r.Key = nil
		}
		if v == "<nil>" {
			r.Value = nil
		}
		recs = append(recs, r)
	}
	return recs
}

func (h *cleanerHarness) clean() string {
	before := h.m.CleanerStats()
	if !h.m.cleaner.cleanOne(context.Background()) {
		return "nothing to clean"
	}
	st := h.m.CleanerStats()
	return fmt.Sprintf("cleaned to %d: kept %d, removed %d", h.l.mu.cleanedTo,
		st.RecordsKept-before.RecordsKept, st.RecordsRemoved-before.RecordsRemoved)
}

// dumpLog prints every segment, batch and record of a log, checking each
// batch as recovery would.
func dumpLog(t testing.TB, l *Log) string {
	var sb strings.Builder
	l.mu.RLock()
	segs := slices.Clone(l.mu.segments)
	sts := make([]segState, len(segs))
	for i, s := range segs {
		sts[i] = s.st
	}
	l.mu.RUnlock()
	for i, s := range segs {
		fmt.Fprintf(&sb, "segment %d next=%d\n", s.base, sts[i].next)
		err := scanSegment(context.Background(), &cleaner{throttle: newThrottle(0)}, s, sts[i], true, func(h record.BatchHeader, b []byte) error {
			if _, err := record.ValidateStored(b); err != nil {
				return err
			}
			_, recs, err := record.Records(b)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, "  batch %d-%d %s records=%d", h.BaseOffset, h.LastOffset(), h.Codec(), h.NumRecords)
			if h.IsControl() {
				sb.WriteString(" control")
			} else if h.IsTransactional() {
				sb.WriteString(" txn")
			}
			if h.HasDeleteHorizon() {
				fmt.Fprintf(&sb, " horizon=+%d", h.BaseTimestamp-clockStart)
			}
			if h.ProducerID >= 0 {
				fmt.Fprintf(&sb, " producer=%d seq=%d", h.ProducerID, h.BaseSequence)
			}
			sb.WriteString("\n")
			for _, r := range recs {
				what := formatRecord(r)
				if h.IsControl() {
					what = formatMarker(t, b)
				}
				fmt.Fprintf(&sb, "    %d %s ts=+%d\n", h.BaseOffset+int64(r.OffsetDelta), what,
					h.BaseTimestamp+r.TimestampDelta-clockStart)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("segment %d: %v", s.base, err)
		}
	}
	return sb.String()
}

func formatRecord(r record.Record) string {
	k, v := string(r.Key), string(r.Value)
	if r.Key == nil {
		k = "<nokey>"
	}
	if r.Value == nil {
		v = "<nil>"
	}
	return k + "=" + v
}

// logTable replays the log through Read as a read_uncommitted consumer
// would: the latest value per key, tombstones deleting, markers skipped.
// It fails on offsets going backwards.
func logTable(t testing.TB, l *Log) map[string]string {
	table := map[string]string{}
	last := int64(-1)
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		must(t, err)
		if len(res.Chunks) == 0 {
			break
		}
		for _, c := range res.Chunks {
			b, err := c.ReadAll()
			must(t, err)
			for len(b) > 0 {
				h, recs, err := record.Records(b[:mustHeader(t, b).Size()])
				must(t, err)
				if h.IsControl() {
					recs = nil // consumers skip markers
				}
				for _, r := range recs {
					o := h.BaseOffset + int64(r.OffsetDelta)
					if o <= last {
						t.Fatalf("offset %d after %d", o, last)
					}
					last = o
					if r.Value == nil {
						delete(table, string(r.Key))
					} else {
						table[string(r.Key)] = string(r.Value)
					}
				}
				off = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
	}
	return table
}

func mustHeader(t testing.TB, b []byte) record.BatchHeader {
	h, err := record.ParseHeader(b)
	must(t, err)
	return h
}

func formatTable(table map[string]string) string {
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(table)) {
		fmt.Fprintf(&sb, "%s=%s\n", k, table[k])
	}
	return sb.String()
}

// TestCleanerSwapCrash stops the swap after each step, as kill -9 would,
// reopens the log and checks that every key's latest value survived and
// that the log is either the old or the new one.
func TestCleanerSwapCrash(t *testing.T) {
	for _, step := range []string{stepCleaned, stepSwap, stepDeleted, stepRenamed} {
		t.Run(step, func(t *testing.T) {
			h := &cleanerHarness{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.UnixMilli(clockStart)}}
			h.lc = compactConfig()
			h.lc.SegmentBytes = 2 << 10
			armed := false
			h.hook = func(s string) error {
				if armed && s == step {
					return errors.New("injected crash")
				}
				return nil
			}
			h.open()
			// A first cleaning leaves small segments that the second one
			// merges, so the crash interrupts a swap of many segments.
			appendUpdates(t, h.l, 300, 17)
			if !h.m.cleaner.cleanOne(context.Background()) {
				t.Fatal("first cleaning did nothing")
			}
			want := appendUpdates(t, h.l, 100, 23)
			oldFiles := segmentFiles(t, h.l.dir)
			armed = true
			if h.m.cleaner.cleanOne(context.Background()) {
				t.Fatal("clean succeeded past the injected crash")
			}
			crash(t, h.m)
			h.hook = nil
			h.open()
			defer func() { h.m.Close() }()
			if got := logTable(t, h.l); !maps.Equal(got, want) {
				t.Fatalf("after crash at %s: table\n%s\nwant\n%s", step, formatTable(got), formatTable(want))
			}
			files := segmentFiles(t, h.l.dir)
			if step == stepCleaned && !slices.Equal(files, oldFiles) {
				t.Fatalf("rolled back swap changed files: %v, was %v", files, oldFiles)
			}
			if step != stepCleaned && slices.Equal(files, oldFiles) {
				t.Fatalf("completed swap left the old files: %v", files)
			}
			dumpLog(t, h.l) // every batch valid
			if !h.m.cleaner.cleanOne(context.Background()) {
				t.Fatal("nothing cleaned after recovery")
			}
			if got := logTable(t, h.l); !maps.Equal(got, want) {
				t.Fatalf("after recovery and cleaning: table differs")
			}
		})
	}
}

// appendUpdates appends n updates cycling over keys keys, one record per
// batch, rolls, and returns the expected table.
func appendUpdates(t testing.TB, l *Log, n, keys int) map[string]string {
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("k%03d", i%keys), fmt.Sprintf("v%05d", i)
		mustAppend(t, l, recordtest.Batch(recordtest.Options{Codec: record.Codec(i % 5)},
			[]record.Record{{Key: []byte(k), Value: []byte(v)}}), false)
		want[k] = v
	}
	must(t, l.requestRoll(context.Background()))
	return want
}

// segmentFiles lists the partition directory's segment files with their
// sizes, sorted.
func segmentFiles(t testing.TB, dir string) []string {
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logExt) {
			fi, err := e.Info()
			must(t, err)
			names = append(names, fmt.Sprintf("%s:%d", e.Name(), fi.Size()))
		}
	}
	return names
}

// TestCleanerBackground runs cleaner threads against concurrent appends
// and reads (meant for -race) and checks the table and the shrinking.
func TestCleanerBackground(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Logger: testLogger(t), RetentionCheckInterval: time.Hour,
		CleanerThreads: 2, CleanerBackoff: 10 * time.Millisecond, CleanerIOBytesPerSecond: 50 << 20}
	m, err := Open(context.Background(), cfg)
	must(t, err)
	defer m.Close()
	l := createLog(t, m, compactConfig())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			logTable(t, l)
		}
	}()
	want := appendUpdates(t, l, 3000, 50)
	<-done
	waitFor(t, func() bool { return m.CleanerStats().Runs > 0 && l.Size() < 20<<10 })
	if got := logTable(t, l); !maps.Equal(got, want) {
		t.Fatalf("table after background cleaning differs")
	}
	must(t, m.Close())
	if files, _ := filepath.Glob(filepath.Join(l.dir, "*"+cleanedExt)); len(files) > 0 {
		t.Fatalf("leftover cleaned files %v", files)
	}
}

// TestCompactedTopicRejectsKeylessRecords checks the produce-path rule.
func TestCompactedTopicRejectsKeylessRecords(t *testing.T) {
	m := openManager(t, t.TempDir(), nil)
	defer m.Close()
	l := createLog(t, m, compactConfig())
	for _, c := range []record.Codec{record.None, record.Zstd} {
		b := recordtest.Batch(recordtest.Options{Codec: c}, []record.Record{{Key: []byte("k"), Value: []byte("v")}, {OffsetDelta: 1, Value: []byte("x")}})
		if _, err := l.Append(context.Background(), b, AppendOptions{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: keyless record accepted: %v", c, err)
		}
	}
	if l.LogEndOffset() != 0 {
		t.Fatal("a rejected batch was written")
	}
}

func TestThrottle(t *testing.T) {
	th := newThrottle(1 << 20) // 1 MiB/s
	start := time.Now()
	for range 4 {
		must(t, th.wait(context.Background(), 64<<10))
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("256 KiB at 1 MiB/s took %v", d)
	}
}

// TestSetCleanerSettings changes the cleaner of a running Manager: threads
// start and retire, and backoff, rate and offset map budget follow.
func TestSetCleanerSettings(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Logger: testLogger(t), RetentionCheckInterval: time.Hour,
		CleanerThreads: 1, CleanerBackoff: 10 * time.Millisecond}
	m, err := Open(context.Background(), cfg)
	must(t, err)
	defer m.Close()
	c := m.cleaner
	state := func() (running int, backoff time.Duration, maxKeys int, rate float64) {
		c.mu.Lock()
		running, backoff, maxKeys = c.mu.running, c.mu.backoff, c.mu.maxKeys
		c.mu.Unlock()
		c.throttle.mu.Lock()
		defer c.throttle.mu.Unlock()
		return running, backoff, maxKeys, c.throttle.rate
	}
	m.SetCleanerSettings(CleanerSettings{Threads: 3, Backoff: 20 * time.Millisecond, IOBytesPerSecond: 1 << 20, DedupeBufferSize: 3 << 20})
	if running, backoff, maxKeys, rate := state(); running != 3 || backoff != 20*time.Millisecond ||
		maxKeys != (1<<20)/offsetMapEntryBytes || rate != 1<<20 {
		t.Fatalf("after growing: %d threads, backoff %v, %d keys, rate %v", running, backoff, maxKeys, rate)
	}
	m.SetCleanerSettings(CleanerSettings{Threads: 1, Backoff: 10 * time.Millisecond})
	waitFor(t, func() bool { running, _, _, _ := state(); return running == 1 })

	off, err := Open(context.Background(), Config{Dir: t.TempDir(), Logger: testLogger(t), CleanerThreads: -1})
	must(t, err)
	defer off.Close()
	off.SetCleanerSettings(CleanerSettings{Threads: 2})
	off.cleaner.mu.Lock()
	defer off.cleaner.mu.Unlock()
	if off.cleaner.mu.running != 0 {
		t.Fatalf("a disabled cleaner started %d threads", off.cleaner.mu.running)
	}
}
