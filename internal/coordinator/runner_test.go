package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

const testTopic = "__test_coordinator"

// fakeCore appends a record holding each heartbeat's group and answers
// it with the number of records it has seen; the group "park" is never
// answered. A chan callReport event asks for the calls parked and
// canceled so far.
type fakeCore struct {
	values   []string // replayed and appended, in order
	out      Output
	parked   int
	canceled []uint64
	closed   *bool
}

func (f *fakeCore) Handle(_ time.Time, c *Call) {
	g := c.Req.(*kmsg.HeartbeatRequest).Group
	if g == "park" {
		f.parked++
		return
	}
	f.values = append(f.values, g)
	f.out.Records = append(f.out.Records, Record{Record: record.Record{Value: []byte(g)}, ProducerID: -1})
	f.out.Replies = append(f.out.Replies, Reply{ID: c.ID, Resp: &kmsg.HeartbeatResponse{ThrottleMillis: int32(len(f.values))}})
}

func (f *fakeCore) Cancel(_ time.Time, id uint64) { f.canceled = append(f.canceled, id) }

type callReport struct {
	parked   int
	canceled []uint64
}

func (f *fakeCore) Event(_ time.Time, ev any) {
	ev.(chan callReport) <- callReport{f.parked, slices.Clone(f.canceled)}
}

func (f *fakeCore) Tick(time.Time)              {}
func (f *fakeCore) Deadline() (time.Time, bool) { return time.Time{}, false }
func (f *fakeCore) Flushed()                    {}
func (f *fakeCore) Close()                      { *f.closed = true }

func (f *fakeCore) Ready() Output {
	out := f.out
	f.out = Output{}
	return out
}

// fakeLoader records what each load replayed.
type fakeLoader struct {
	mu       sync.Mutex
	replayed [][]string
	stopped  bool
	closed   bool
}

func (ld *fakeLoader) Load(ctx context.Context, l *replica.Partition, _ time.Time) (Core, error) {
	f := &fakeCore{closed: &ld.closed}
	err := Replay(ctx, l, func(batch []byte) {
		_, recs, err := record.Records(batch)
		if err != nil {
			panic(err)
		}
		for _, r := range recs {
			f.values = append(f.values, string(r.Value))
		}
	})
	if err != nil {
		return nil, err
	}
	ld.mu.Lock()
	ld.replayed = append(ld.replayed, slices.Clone(f.values))
	ld.mu.Unlock()
	return f, nil
}

func (ld *fakeLoader) Stop() { ld.stopped = true }

type env struct {
	g       *Registry
	loaders []*fakeLoader
	mu      sync.Mutex
	noLog   bool
}

func openEnv(t *testing.T, cancelOnGiveUp bool) *env {
	t.Helper()
	logs, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logs.Close() })
	if _, err := logs.CreateLog(testTopic, 0, storage.DefaultLogConfig()); err != nil {
		t.Fatal(err)
	}
	replicas := replica.NewManager(replica.Config{NodeID: 1, Logs: logs})
	if err := replicas.Lead(testTopic, 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	e := &env{}
	e.g, err = NewRegistry(Config{
		Name: "test", NumPartitions: 1, CancelOnGiveUp: cancelOnGiveUp,
		Log: func(p int32) *replica.Partition {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.noLog {
				return nil
			}
			part, _ := replicas.Partition(testTopic, p)
			return part
		},
		NewLoader: func(*Runner) Loader {
			e.mu.Lock()
			defer e.mu.Unlock()
			ld := &fakeLoader{}
			e.loaders = append(e.loaders, ld)
			return ld
		},
		ErrorResponse: func(_ kmsg.Request, code int16) kmsg.Response { return &kmsg.HeartbeatResponse{ErrorCode: code} },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.g.Close)
	return e
}

func (e *env) elect(t *testing.T, epoch int32) {
	t.Helper()
	if err := e.g.Elect(0, epoch); err != nil {
		t.Fatal(err)
	}
	if err := e.g.WaitLoaded(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func heartbeat(g string) *kmsg.HeartbeatRequest { return &kmsg.HeartbeatRequest{Group: g} }

func (e *env) do(ctx context.Context, g string) *kmsg.HeartbeatResponse {
	return e.g.Do(ctx, 0, heartbeat(g), nil).(*kmsg.HeartbeatResponse)
}

func TestRunnerAppendsAndReloadReplays(t *testing.T) {
	e := openEnv(t, false)
	e.elect(t, 1)
	want := []string{"a", "b", "c"}
	for i, g := range want {
		resp := e.do(context.Background(), g)
		if resp.ErrorCode != 0 || resp.ThrottleMillis != int32(i+1) {
			t.Fatalf("heartbeat %q: error %d, records %d", g, resp.ErrorCode, resp.ThrottleMillis)
		}
	}
	e.g.Resign(0)
	if code := e.do(context.Background(), "x").ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("resigned partition answered %v", kerr.ErrorForCode(code))
	}
	if ld := e.loaders[0]; !ld.stopped || !ld.closed {
		t.Fatalf("resigned runner: loader stopped %v, core closed %v", ld.stopped, ld.closed)
	}
	e.elect(t, 2)
	if got := e.loaders[1].replayed; len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("reload replayed %q, want [%q]", got, want)
	}
	if resp := e.do(context.Background(), "d"); resp.ThrottleMillis != 4 {
		t.Fatalf("after reload the core had %d records, want 4", resp.ThrottleMillis)
	}
}

func TestRegistryElection(t *testing.T) {
	e := openEnv(t, false)
	if code := e.do(context.Background(), "a").ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("unelected partition answered %v", kerr.ErrorForCode(code))
	}
	e.elect(t, 2)
	r := e.g.Runner(0)
	for _, epoch := range []int32{2, 1} {
		e.elect(t, epoch)
		if e.g.Runner(0) != r {
			t.Fatalf("election at epoch %d replaced the runner at epoch 2", epoch)
		}
	}
	e.elect(t, 3)
	if r2 := e.g.Runner(0); r2 == r || r2.Epoch() != 3 {
		t.Fatalf("election at epoch 3 kept the runner at epoch %d", r2.Epoch())
	}
	if err := e.g.Elect(1, 3); err == nil {
		t.Fatal("elected a partition out of range")
	}
	e.g.Close()
	if err := e.g.Elect(0, 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("elect after Close: %v, want ErrClosed", err)
	}
}

func TestRunnerWithoutLogUnavailable(t *testing.T) {
	e := openEnv(t, false)
	e.mu.Lock()
	e.noLog = true
	e.mu.Unlock()
	e.elect(t, 1)
	if code := e.do(context.Background(), "a").ErrorCode; code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("runner without a log answered %v", kerr.ErrorForCode(code))
	}
}

// parked starts a call the fake core never answers and returns its answer.
func (e *env) parked(ctx context.Context) chan *kmsg.HeartbeatResponse {
	ch := make(chan *kmsg.HeartbeatResponse, 1)
	go func() { ch <- e.do(ctx, "park") }()
	return ch
}

// report asks the core, through the runner, which calls it holds.
func (e *env) report(t *testing.T) callReport {
	t.Helper()
	ch := make(chan callReport, 1)
	if !e.g.Runner(0).Post(context.Background(), ch) {
		t.Fatal("runner stopped")
	}
	return <-ch
}

// waitParked polls until the core holds a parked call.
func (e *env) waitParked(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.report(t).parked == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the parked call never reached the core")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunnerCancelOnGiveUp(t *testing.T) {
	for _, cancelOnGiveUp := range []bool{true, false} {
		e := openEnv(t, cancelOnGiveUp)
		e.elect(t, 1)
		ctx, cancel := context.WithCancel(context.Background())
		ch := e.parked(ctx)
		e.waitParked(t)
		cancel()
		if code := (<-ch).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Fatalf("abandoned call answered %v", kerr.ErrorForCode(code))
		}
		got := e.report(t).canceled
		if want := cancelOnGiveUp; (len(got) == 1) != want {
			t.Fatalf("CancelOnGiveUp %v: core saw cancellations %v", cancelOnGiveUp, got)
		}
	}
}

func TestRunnerResignAnswersWaitingCalls(t *testing.T) {
	e := openEnv(t, true)
	e.elect(t, 1)
	ch := e.parked(context.Background())
	e.waitParked(t)
	e.g.Resign(0)
	if code := (<-ch).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("waiting call answered %v at resignation", kerr.ErrorForCode(code))
	}
}

func TestBuildBatches(t *testing.T) {
	rec := func(v string, pid int64, epoch int16) Record {
		return Record{Record: record.Record{Value: []byte(v)}, ProducerID: pid, ProducerEpoch: epoch}
	}
	tests := []struct {
		name  string
		recs  []Record
		limit int
		want  [][]string // values per batch
		pids  []int64
	}{
		{"plain", []Record{rec("a", -1, 0), rec("b", -1, 0)}, 1 << 20, [][]string{{"a", "b"}}, []int64{-1}},
		{"split by size", []Record{rec("a", -1, 0), rec("b", -1, 0)}, 40, [][]string{{"a"}, {"b"}}, []int64{-1, -1}},
		{"split by producer", []Record{rec("a", -1, 0), rec("b", 7, 1), rec("c", 7, 1), rec("d", 7, 2)}, 1 << 20,
			[][]string{{"a"}, {"b", "c"}, {"d"}}, []int64{-1, 7, 7}},
	}
	for _, tt := range tests {
		data := buildBatches(tt.recs, tt.limit, 1)
		var got [][]string
		var pids []int64
		for len(data) > 0 {
			h, err := record.ParseHeader(data)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			_, recs, err := record.Records(data[:h.Size()])
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if h.IsTransactional() != (h.ProducerID >= 0) {
				t.Fatalf("%s: batch of producer %d transactional %v", tt.name, h.ProducerID, h.IsTransactional())
			}
			var vals []string
			for _, r := range recs {
				vals = append(vals, string(r.Value))
			}
			got, pids = append(got, vals), append(pids, h.ProducerID)
			data = data[h.Size():]
		}
		if !slices.EqualFunc(got, tt.want, slices.Equal) || !slices.Equal(pids, tt.pids) {
			t.Errorf("%s: batches %q of producers %v, want %q of %v", tt.name, got, pids, tt.want, tt.pids)
		}
	}
}
