package txn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// TestCore drives the coordinator core through the scripts in testdata/core
// with a fake clock: requests in, responses, records and markers out.
// Regenerate with -rewrite.
func TestCore(t *testing.T) {
	datadriven.Walk(t, "testdata/core", func(t *testing.T, path string) {
		h := &harness{t: t}
		datadriven.RunTest(t, path, h.run)
	})
}

// testStart is the fake clock's start; times print as milliseconds since.
var testStart = time.UnixMilli(1_700_000_000_000)

// harness feeds a Coordinator and prints what each step produced.
type harness struct {
	t         testing.TB
	c         *Coordinator
	cfg       Config
	partition int32
	now       time.Time
	nextPID   int64
	allocErr  error
	log       []record.Record    // everything persisted, for reload
	markers   map[string]Markers // the last markers asked for, by id
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if h.c == nil && td.Cmd != "init" {
		h.init(t, td)
	}
	switch td.Cmd {
	case "init":
		h.init(t, td)
		return "ok"
	case "alloc":
		h.nextPID = intArg(td, "next", h.nextPID)
		h.allocErr = nil
		if td.HasArg("fail") {
			h.allocErr = errors.New("no producer id block")
		}
		return "ok"
	case "advance":
		ms, _ := strconv.Atoi(td.CmdArgs[0].Key)
		return h.advance(h.now.Add(time.Duration(ms) * time.Millisecond))
	case "markers":
		return h.markersWritten(td)
	case "pending":
		var b strings.Builder
		for _, m := range h.c.PendingMarkers() {
			b.WriteString(describeMarkers(m) + "\n")
		}
		return orNothing(b.String())
	case "seed":
		h.log = append(h.log, seedRecord(td))
		return "ok"
	case "lose":
		// The last n appends failed: the log never got them.
		h.log = h.log[:len(h.log)-int(intArg(td, "n", 1))]
		return "ok"
	case "reload":
		return h.reload(t, td)
	case "dump":
		return h.dump()
	case "deadline":
		d, ok := h.c.Deadline()
		if !ok {
			return "none"
		}
		return fmt.Sprintf("t=%d", d.Sub(testStart).Milliseconds())
	}
	resp := h.c.Handle(h.now, h.request(t, td))
	return h.output(describeResponse(resp))
}

func (h *harness) init(t *testing.T, td *datadriven.TestData) {
	cfg := DefaultConfig()
	cfg.NumPartitions = int32(intArg(td, "partitions", 1))
	cfg.TransactionVersion = int16(intArg(td, "tv", 2))
	cfg.MaxTimeout = time.Duration(intArg(td, "max-timeout", 900000)) * time.Millisecond
	cfg.IDExpiration = time.Duration(intArg(td, "expiration", 7*24*3600*1000)) * time.Millisecond
	cfg.AbortCheckInterval = time.Duration(intArg(td, "abort-interval", 10000)) * time.Millisecond
	cfg.ExpiryCheckInterval = time.Duration(intArg(td, "expiry-interval", 3600000)) * time.Millisecond
	cfg.MaxValueBytes = int(intArg(td, "max-value", 1<<20))
	cfg.NextProducerID = func() (int64, error) {
		if h.allocErr != nil {
			return 0, h.allocErr
		}
		h.nextPID++
		return h.nextPID - 1, nil
	}
	cfg.OffsetsPartition = func(group string) int32 { return PartitionFor(group, 50) }
	cfg.PartitionExists = func(topic string, p int32) bool { return topic != "gone" && p < 10 }
	h.cfg, h.partition = cfg, int32(intArg(td, "partition", 0))
	h.now, h.log, h.nextPID, h.allocErr = testStart, nil, intArg(td, "first-pid", 1000), nil
	h.markers = make(map[string]Markers)
	c, err := New(cfg, h.partition, int32(intArg(td, "epoch", 0)))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.c.Loaded(h.now)
}

// reload replays everything persisted into a new core at a new epoch, as
// a coordinator failover does, and prints the loaded states and output.
func (h *harness) reload(t *testing.T, td *datadriven.TestData) string {
	c, err := New(h.cfg, h.partition, int32(intArg(td, "epoch", int64(h.c.Epoch()+1))))
	if err != nil {
		t.Fatal(err)
	}
	h.c, h.markers = c, make(map[string]Markers)
	var b strings.Builder
	for _, rec := range h.log {
		if err := c.Replay(rec.Key, rec.Value); err != nil {
			fmt.Fprintf(&b, "replay: %v\n", err)
		}
	}
	if td.HasArg("request-while-loading") {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{"t"}
		b.WriteString(describeResponse(c.Handle(h.now, r)) + "\n")
	}
	c.Loaded(h.now)
	b.WriteString(h.dump())
	out := h.output("")
	if out != "nothing" {
		b.WriteString(out)
	}
	return b.String()
}

func (h *harness) dump() string {
	var b strings.Builder
	for _, t := range h.c.sorted() {
		fmt.Fprintf(&b, "%s: %s\n", t.id, describeEntry(&t.Entry))
	}
	return orNothing(b.String())
}

// advance moves the clock to target, ticking at every deadline on the way
// as a runner's timer would.
func (h *harness) advance(target time.Time) string {
	var b strings.Builder
	for {
		d, ok := h.c.Deadline()
		if !ok || d.After(target) {
			break
		}
		if d.After(h.now) {
			h.now = d
		}
		h.c.Tick(h.now)
		if out := h.output(""); out != "nothing" {
			fmt.Fprintf(&b, "t=%d\n%s", h.elapsed(), out)
		}
	}
	h.now = target
	return orNothing(b.String())
}

func (h *harness) elapsed() int64 { return h.now.Sub(testStart).Milliseconds() }

// markersWritten reports the markers last asked for as written: all their
// partitions, or those listed; pid/epoch override the report's.
func (h *harness) markersWritten(td *datadriven.TestData) string {
	id := strArg(td, "id", "t")
	m, ok := h.markers[id]
	if !ok {
		return "no markers asked for " + id
	}
	parts := m.Partitions
	if td.HasArg("parts") {
		parts = partsArg(td)
	}
	h.c.MarkersWritten(h.now, id, intArg(td, "pid", m.ProducerID), int16(intArg(td, "epoch", int64(m.ProducerEpoch))), parts)
	return h.output("")
}

// output prints the step's records and markers after head.
func (h *harness) output(head string) string {
	out := h.c.Ready()
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n")
	}
	for _, rec := range out.Records {
		h.log = append(h.log, rec)
		b.WriteString("persist " + describeRecord(rec) + "\n")
	}
	for _, m := range out.Markers {
		h.markers[m.TransactionalID] = m
		b.WriteString(describeMarkers(m) + "\n")
	}
	return orNothing(b.String())
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func (h *harness) request(t *testing.T, td *datadriven.TestData) kmsg.Request {
	id := strArg(td, "id", "t")
	pid, epoch := intArg(td, "pid", 1000), int16(intArg(td, "epoch", 0))
	switch td.Cmd {
	case "init-pid":
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = int16(intArg(td, "v", 5))
		if id != "none" {
			r.TransactionalID = kmsg.StringPtr(id)
		}
		r.TransactionTimeoutMillis = int32(intArg(td, "timeout", 60000))
		r.ProducerID, r.ProducerEpoch = intArg(td, "pid", -1), int16(intArg(td, "epoch", -1))
		return r
	case "add":
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.Version = int16(intArg(td, "v", 3))
		if r.Version < 4 {
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = id, pid, epoch
			for _, tp := range partsArg(td) {
				rt := kmsg.NewAddPartitionsToTxnRequestTopic()
				rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
				r.Topics = append(r.Topics, rt)
			}
			return r
		}
		for _, one := range listArg(td, "txns", id+":"+strconv.FormatInt(pid, 10)+":"+strconv.Itoa(int(epoch))) {
			f := strings.Split(one, ":")
			tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tr.TransactionalID = f[0]
			tr.ProducerID, _ = strconv.ParseInt(f[1], 10, 64)
			e, _ := strconv.Atoi(f[2])
			tr.ProducerEpoch, tr.VerifyOnly = int16(e), td.HasArg("verify")
			for _, tp := range partsArg(td) {
				tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
				tt.Topic, tt.Partitions = tp.Topic, []int32{tp.Partition}
				tr.Topics = append(tr.Topics, tt)
			}
			r.Transactions = append(r.Transactions, tr)
		}
		return r
	case "add-offsets":
		r := kmsg.NewPtrAddOffsetsToTxnRequest()
		r.Version = int16(intArg(td, "v", 3))
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = id, pid, epoch, strArg(td, "group", "g")
		return r
	case "end":
		r := kmsg.NewPtrEndTxnRequest()
		r.Version = int16(intArg(td, "v", 5))
		r.TransactionalID, r.ProducerID, r.ProducerEpoch = id, pid, epoch
		r.Commit = strArg(td, "result", "commit") == "commit"
		return r
	case "describe":
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = listArg(td, "ids", "t")
		return r
	case "list":
		r := kmsg.NewPtrListTransactionsRequest()
		r.Version = int16(intArg(td, "v", 2))
		r.StateFilters = listArg(td, "states", "")
		for _, p := range listArg(td, "pids", "") {
			n, _ := strconv.ParseInt(p, 10, 64)
			r.ProducerIDFilters = append(r.ProducerIDFilters, n)
		}
		r.DurationFilterMillis = intArg(td, "duration", -1)
		// A pattern is the command's input: datadriven arguments cannot
		// hold regular expressions.
		if td.HasArg("pattern") || td.Input != "" {
			r.TransactionalIDPattern = kmsg.StringPtr(td.Input)
		}
		return r
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return nil
}

// seedRecord builds a record as another coordinator (or Kafka) wrote it.
func seedRecord(td *datadriven.TestData) record.Record {
	id := strArg(td, "id", "t")
	if td.HasArg("tombstone") {
		return Record(id, nil, 1)
	}
	state, _ := stateByName(strArg(td, "state", "Empty"))
	e := &Entry{ProducerID: intArg(td, "pid", 1000), PreviousProducerID: intArg(td, "prev-pid", -1),
		NextProducerID: intArg(td, "next-pid", -1), ProducerEpoch: int16(intArg(td, "epoch", 0)),
		TimeoutMs: int32(intArg(td, "timeout", 60000)), State: state, Partitions: partsArg(td),
		LastUpdateMs: testStart.UnixMilli() + intArg(td, "update", 0), StartMs: -1,
		ClientTxnVersion: int16(intArg(td, "tv", 0))}
	if td.HasArg("start") {
		e.StartMs = testStart.UnixMilli() + intArg(td, "start", 0)
	}
	rec := Record(id, e, int16(intArg(td, "v", 1)))
	if td.HasArg("raw-state") {
		rec.Value[2+8+2+4] = byte(intArg(td, "raw-state", 0)) // the state byte
	}
	if td.HasArg("key-version") {
		rec.Key[1] = byte(intArg(td, "key-version", 0))
	}
	if td.HasArg("garbage") {
		rec.Value = rec.Value[:5]
	}
	return rec
}

// partsArg reads parts=(topic/partition,...).
func partsArg(td *datadriven.TestData) []TopicPartition {
	var out []TopicPartition
	for _, s := range listArg(td, "parts", "") {
		topic, ps, _ := strings.Cut(s, "/")
		p, _ := strconv.Atoi(ps)
		out = append(out, TopicPartition{topic, int32(p)})
	}
	return out
}

func describeRecord(rec record.Record) string {
	id, e, err := DecodeRecord(rec.Key, rec.Value)
	switch {
	case err != nil:
		return "undecodable: " + err.Error()
	case e == nil:
		return id + ": tombstone"
	}
	return fmt.Sprintf("%s: v%d %s", id, int16(rec.Value[0])<<8|int16(rec.Value[1]), describeEntry(e))
}

func describeEntry(e *Entry) string {
	return fmt.Sprintf("%s pid=%d epoch=%d prev=%d next=%d timeout=%d start=%s update=%s tv=%d parts=%s",
		e.State, e.ProducerID, e.ProducerEpoch, e.PreviousProducerID, e.NextProducerID, e.TimeoutMs,
		msSince(e.StartMs), msSince(e.LastUpdateMs), e.ClientTxnVersion, describeParts(e.Partitions))
}

func msSince(ms int64) string {
	if ms < 0 {
		return strconv.FormatInt(ms, 10)
	}
	return strconv.FormatInt(ms-testStart.UnixMilli(), 10)
}

func describeParts(tps []TopicPartition) string {
	s := make([]string, len(tps))
	for i, tp := range tps {
		s[i] = fmt.Sprintf("%s/%d", tp.Topic, tp.Partition)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func describeMarkers(m Markers) string {
	result := "abort"
	if m.Commit {
		result = "commit"
	}
	return fmt.Sprintf("markers %s %s pid=%d epoch=%d coordinator-epoch=%d tv=%d parts=%s", m.TransactionalID, result,
		m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.TransactionVersion, describeParts(m.Partitions))
}

func describeResponse(resp kmsg.Response) string {
	switch r := resp.(type) {
	case *kmsg.InitProducerIDResponse:
		return fmt.Sprintf("init-pid %s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	case *kmsg.AddPartitionsToTxnResponse:
		var s []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s = append(s, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		for _, tr := range r.Transactions {
			s = append(s, tr.TransactionalID+":")
			for _, t := range tr.Topics {
				for _, p := range t.Partitions {
					s = append(s, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
				}
			}
		}
		return "add " + strings.Join(s, " ")
	case *kmsg.AddOffsetsToTxnResponse:
		return "add-offsets " + errName(r.ErrorCode)
	case *kmsg.EndTxnResponse:
		return fmt.Sprintf("end %s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	case *kmsg.DescribeTransactionsResponse:
		var b strings.Builder
		for i, s := range r.TransactionStates {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "describe %s %s", s.TransactionalID, errName(s.ErrorCode))
			if s.ErrorCode == 0 {
				var tps []TopicPartition
				for _, t := range s.Topics {
					for _, p := range t.Partitions {
						tps = append(tps, TopicPartition{t.Topic, p})
					}
				}
				fmt.Fprintf(&b, " %s pid=%d epoch=%d timeout=%d start=%s parts=%s", s.State, s.ProducerID,
					s.ProducerEpoch, s.TimeoutMillis, msSince(s.StartTimestamp), describeParts(tps))
			}
		}
		return b.String()
	case *kmsg.ListTransactionsResponse:
		s := []string{"list", errName(r.ErrorCode)}
		if len(r.UnknownStateFilters) > 0 {
			s = append(s, "unknown-states="+strings.Join(r.UnknownStateFilters, ","))
		}
		for _, t := range r.TransactionStates {
			s = append(s, fmt.Sprintf("%s(%d,%s)", t.TransactionalID, t.ProducerID, t.TransactionState))
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("%T", resp)
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Message
		}
	}
	return strconv.Itoa(int(code))
}

func strArg(td *datadriven.TestData, key, def string) string {
	a, ok := td.Arg(key)
	if !ok || len(a.Vals) == 0 {
		return def
	}
	return a.Vals[0]
}

func intArg(td *datadriven.TestData, key string, def int64) int64 {
	n, err := strconv.ParseInt(strArg(td, key, ""), 10, 64)
	if err != nil {
		return def
	}
	return n
}

func listArg(td *datadriven.TestData, key, def string) []string {
	a, ok := td.Arg(key)
	if !ok {
		if def == "" {
			return nil
		}
		return []string{def}
	}
	return a.Vals
}
