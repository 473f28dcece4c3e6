package replica

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// fakeLog assigns offsets like a log but moves its high watermark only
// when the test says, as a leader waiting for followers would.
type fakeLog struct {
	mu      sync.Mutex
	end, hw int64
	changed chan struct{}
}

func newFakeLog() *fakeLog { return &fakeLog{changed: make(chan struct{})} }

func (f *fakeLog) Append(_ context.Context, b []byte, _ storage.AppendOptions) (storage.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	base := f.end
	f.end += recordSpan(b)
	close(f.changed)
	f.changed = make(chan struct{})
	return storage.AppendResult{BaseOffset: base, LogAppendTime: -1}, nil
}

// AppendMarker takes one offset, as a control batch does.
func (f *fakeLog) AppendMarker(context.Context, storage.TxnMarker, storage.AppendOptions) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := f.end
	f.end++
	close(f.changed)
	f.changed = make(chan struct{})
	return off, nil
}

func (f *fakeLog) setHighWatermark(hw int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hw = hw
}

func (f *fakeLog) HighWatermark() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hw
}

func (f *fakeLog) LogEndOffset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.end
}

func (f *fakeLog) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// SetHighWatermark changes nothing: the test moves the high watermark.
func (f *fakeLog) SetHighWatermark(int64) int64 { return f.HighWatermark() }

func (f *fakeLog) AppendAsFollower(context.Context, []byte, storage.AppendOptions) (storage.AppendResult, error) {
	return storage.AppendResult{}, errors.New("fake log: no follower appends")
}

func (f *fakeLog) TruncateTo(context.Context, int64) (int64, error) {
	return 0, errors.New("fake log: no truncation")
}

func (f *fakeLog) TruncateFullyAndStartAt(context.Context, int64) error {
	return errors.New("fake log: no truncation")
}

func (f *fakeLog) ReadReplica(o, n int64, one bool) (storage.ReadResult, error) {
	return f.Read(o, n, one)
}

func (f *fakeLog) ReadCommitted(o, n int64, one bool) (storage.ReadResult, error) {
	return f.Read(o, n, one)
}

func (f *fakeLog) LastStableOffset() int64 { return f.HighWatermark() }

func (f *fakeLog) Read(int64, int64, bool) (storage.ReadResult, error) {
	hw := f.HighWatermark()
	return storage.ReadResult{HighWatermark: hw, LastStableOffset: hw}, nil
}

func (f *fakeLog) LogStartOffset() int64                         { return 0 }
func (f *fakeLog) LatestEpoch() (int32, bool)                    { return -1, false }
func (f *fakeLog) EndOffsetForEpoch(int32) (int32, int64)        { return -1, -1 }
func (f *fakeLog) OffsetForTimestamp(int64) (int64, int64, bool) { return 0, 0, false }
func (f *fakeLog) MaxTimestamp() (int64, int64, bool)            { return 0, 0, false }
func (f *fakeLog) Offline() error                                { return nil }
func (f *fakeLog) Config() storage.LogConfig                     { return storage.DefaultLogConfig() }
func (f *fakeLog) DeleteRecordsBefore(_ context.Context, off int64) (int64, error) {
	return off, nil
}

// lead makes node 1 the partition's only replica and leader at epoch.
func (p *Partition) lead(epoch int32) error {
	_, err := p.apply(State{Leader: 1, LeaderEpoch: epoch, Replicas: []int32{1}, ISR: []int32{1}}, time.Now())
	return err
}

// waiting counts the produces in the purgatory.
func (pg *purgatory) waiting() int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return len(pg.mu.waiters)
}

func newLedPartition(t *testing.T) (*Partition, *fakeLog) {
	t.Helper()
	f := newFakeLog()
	p := newPartition("t", 0, 1, f, nil, nil)
	if err := p.lead(0); err != nil {
		t.Fatal(err)
	}
	return p, f
}

type appendOutcome struct {
	res storage.AppendResult
	err error
}

// appendAsync appends n records with opts in a goroutine and returns once
// its acks=all wait is registered (n waiters in all are expected).
func appendAsync(t *testing.T, p *Partition, n int, opts AppendOptions, waiters int) <-chan appendOutcome {
	t.Helper()
	out := make(chan appendOutcome, 1)
	go func() {
		res, err := p.Append(context.Background(), recordtest.Simple(n, 10), opts)
		out <- appendOutcome{res, err}
	}()
	waitFor(t, func() bool { return p.waiters.waiting() == waiters })
	return out
}

// waitFor polls cond with a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func notDone(t *testing.T, c <-chan appendOutcome) {
	t.Helper()
	select {
	case o := <-c:
		t.Fatalf("append returned early: %+v", o)
	case <-time.After(20 * time.Millisecond):
	}
}

func outcome(t *testing.T, c <-chan appendOutcome) appendOutcome {
	t.Helper()
	select {
	case o := <-c:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("append did not return in 5s")
		return appendOutcome{}
	}
}

func TestAcksAllWaitsForHighWatermark(t *testing.T) {
	p, f := newLedPartition(t)
	first := appendAsync(t, p, 3, AppendOptions{Acks: -1}, 1)  // offsets 0-2
	second := appendAsync(t, p, 2, AppendOptions{Acks: -1}, 2) // offsets 3-4

	// Other produces and reads go on while both wait.
	res, err := p.Append(context.Background(), recordtest.Simple(1, 10), AppendOptions{Acks: 1})
	if err != nil || res.BaseOffset != 5 {
		t.Fatalf("acks=1 append: %+v, %v; want base 5", res, err)
	}
	if _, err := p.Read(0, 1024, true); err != nil {
		t.Fatal(err)
	}

	f.setHighWatermark(2) // offset 2 not yet committed
	p.maybeAdvanceHighWatermark()
	notDone(t, first)
	f.setHighWatermark(3)
	p.maybeAdvanceHighWatermark()
	if o := outcome(t, first); o.err != nil || o.res.BaseOffset != 0 {
		t.Fatalf("first: %+v; want base 0, no error", o)
	}
	notDone(t, second)
	f.setHighWatermark(6)
	p.maybeAdvanceHighWatermark()
	if o := outcome(t, second); o.err != nil || o.res.BaseOffset != 3 {
		t.Fatalf("second: %+v; want base 3, no error", o)
	}
	if n := p.waiters.waiting(); n != 0 {
		t.Fatalf("%d waiters left", n)
	}
}

func TestAcksAllAlreadyCommitted(t *testing.T) {
	p, f := newLedPartition(t)
	f.setHighWatermark(100) // the append below lands under it
	if _, err := p.Append(context.Background(), recordtest.Simple(2, 10), AppendOptions{Acks: -1}); err != nil {
		t.Fatal(err)
	}
	if n := p.waiters.waiting(); n != 0 {
		t.Fatalf("%d waiters; want none", n)
	}
}

func TestAcksAllTimeout(t *testing.T) {
	p, _ := newLedPartition(t)
	start := time.Now()
	_, err := p.Append(context.Background(), recordtest.Simple(1, 10), AppendOptions{Acks: -1, Timeout: 30 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v; want deadline exceeded", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("returned after %v, before its timeout", d)
	}
	if n := p.waiters.waiting(); n != 0 {
		t.Fatalf("%d waiters left after the timeout", n)
	}
}

func TestAcksAllHangup(t *testing.T) {
	p, _ := newLedPartition(t)
	hangup := make(chan struct{})
	c := appendAsync(t, p, 1, AppendOptions{Acks: -1, Hangup: hangup}, 1)
	other := appendAsync(t, p, 1, AppendOptions{Acks: -1}, 2)
	close(hangup)
	if o := outcome(t, c); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("err %v; want canceled", o.err)
	}
	if n := p.waiters.waiting(); n != 1 {
		t.Fatalf("%d waiters; want only the other produce", n)
	}
	notDone(t, other)
	p.stop()
	if o := outcome(t, other); !errors.Is(o.err, ErrNotLeader) {
		t.Fatalf("other: %v; want not leader once stopped", o.err)
	}
}

func TestNotLeader(t *testing.T) {
	p, _ := newLedPartition(t)
	c := appendAsync(t, p, 1, AppendOptions{Acks: -1}, 1)
	p.stop()
	if o := outcome(t, c); !errors.Is(o.err, ErrNotLeader) {
		t.Fatalf("waiting produce: %v; want not leader", o.err)
	}
	if _, err := p.Append(context.Background(), recordtest.Simple(1, 10), AppendOptions{Acks: 1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append: %v; want not leader", err)
	}
	if _, err := p.Read(0, 1024, true); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read: %v; want not leader", err)
	}
	if _, err := p.DeleteRecordsBefore(context.Background(), 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("delete records: %v; want not leader", err)
	}
	if err := p.lead(3); err != nil {
		t.Fatal(err)
	}
	if e, err := p.LeaderEpoch(); e != 3 || err != nil {
		t.Fatalf("epoch %d, %v; want 3", e, err)
	}
	if err := p.lead(2); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("lead at an older epoch: %v; want stale epoch", err)
	}
}

// epochLog leads t-0 at epochs 0, 2 and 4: offsets 0-2 written in epoch 0,
// 3-4 in epoch 2, none yet in 4. t-1 is led at epoch 2 and empty.
func epochLog(t *testing.T) (*Partition, *Partition) {
	t.Helper()
	m, _ := openManager(t)
	if err := m.Lead("t", 0, 2, 0); err != nil {
		t.Fatal(err)
	}
	p, err := m.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct{ epoch, n int32 }{{0, 3}, {2, 2}, {4, 0}} {
		if err := m.Lead("t", 0, 1, e.epoch); err != nil {
			t.Fatal(err)
		}
		if e.n == 0 {
			continue
		}
		opts := AppendOptions{Acks: 1} // stamped with the partition's epoch
		if _, err := p.Append(context.Background(), recordtest.Simple(int(e.n), 10), opts); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Lead("t", 1, 2, 2); err != nil {
		t.Fatal(err)
	}
	empty, err := m.Partition("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	return p, empty
}

func TestLastOffsetForEpoch(t *testing.T) {
	p, empty := epochLog(t)
	for _, c := range []struct {
		p     *Partition
		epoch int32
		want  EpochEnd
	}{
		{p, -1, EpochEnd{-1, -1}},
		{p, 0, EpochEnd{0, 3}},
		{p, 1, EpochEnd{0, 3}},
		{p, 2, EpochEnd{2, 5}},
		{p, 3, EpochEnd{2, 5}}, // the leader's epoch 4 starts at the log end
		{p, 4, EpochEnd{4, 5}},
		{p, 5, EpochEnd{-1, -1}},
		{empty, 0, EpochEnd{0, 0}}, // below the leader's epoch, which starts at 0
		{empty, 2, EpochEnd{2, 0}},
		{empty, 3, EpochEnd{-1, -1}},
	} {
		got, err := c.p.LastOffsetForEpoch(NoEpoch, c.epoch)
		if err != nil || got != c.want {
			t.Errorf("%s-%d epoch %d: %+v, %v; want %+v", c.p.topic, c.p.partition, c.epoch, got, err, c.want)
		}
	}
}

func TestCheckEpoch(t *testing.T) {
	p, _ := epochLog(t)
	for current, want := range map[int32]error{-1: nil, 4: nil, 3: ErrFencedEpoch, 0: ErrFencedEpoch, 5: ErrUnknownEpoch} {
		if err := p.CheckEpoch(current); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("current epoch %d: %v; want %v", current, err, want)
		}
		if _, err := p.LastOffsetForEpoch(current, 0); (want == nil) != (err == nil) || !errors.Is(err, want) {
			t.Errorf("last offset with current epoch %d: %v; want %v", current, err, want)
		}
	}
	p.stop()
	if err := p.CheckEpoch(NoEpoch); !errors.Is(err, ErrNotLeader) {
		t.Errorf("stopped: %v; want not leader", err)
	}
	if err := p.CheckEpoch(3); !errors.Is(err, ErrFencedEpoch) {
		t.Errorf("stopped, fenced epoch: %v; want fenced (checked first, as Kafka)", err)
	}
}

func TestDivergence(t *testing.T) {
	p, _ := epochLog(t)
	for _, c := range []struct {
		last   int32
		offset int64
		want   *EpochEnd
	}{
		{NoEpoch, 9, nil},
		{0, 3, nil},
		{0, 4, &EpochEnd{0, 3}}, // ahead of its epoch's end here
		{1, 3, &EpochEnd{0, 3}}, // an epoch this log never had
		{2, 5, nil},
		{2, 6, &EpochEnd{2, 5}},
		{4, 5, nil},
	} {
		got, err := p.Divergence(NoEpoch, c.last, c.offset)
		if err != nil || (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("last epoch %d offset %d: %v, %v; want %v", c.last, c.offset, got, err, c.want)
		}
	}
	if _, err := p.Divergence(NoEpoch, 5, 5); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Errorf("epoch above the leader's: %v; want out of range", err)
	}
	if _, err := p.Divergence(3, 0, 3); !errors.Is(err, ErrFencedEpoch) {
		t.Errorf("fenced current epoch: %v; want fenced", err)
	}
	if _, err := p.DeleteRecordsBefore(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Divergence(NoEpoch, 0, 1); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Errorf("below the log start: %v; want out of range", err)
	}
}

// TestAppendMarkerWaitsForHighWatermark checks that an end-transaction
// marker at acks=all is answered only once the high watermark passes it.
func TestAppendMarkerWaitsForHighWatermark(t *testing.T) {
	p, f := newLedPartition(t)
	if _, err := p.Append(context.Background(), recordtest.Simple(2, 10), AppendOptions{Acks: 1}); err != nil {
		t.Fatal(err)
	}
	type markerOutcome struct {
		offset int64
		err    error
	}
	out := make(chan markerOutcome, 1)
	go func() {
		off, err := p.AppendMarker(context.Background(), storage.TxnMarker{ProducerID: 1, Commit: true}, AppendOptions{Acks: -1})
		out <- markerOutcome{off, err}
	}()
	waitFor(t, func() bool { return p.waiters.waiting() == 1 })
	f.setHighWatermark(2) // the marker, at offset 2, not yet committed
	p.maybeAdvanceHighWatermark()
	select {
	case o := <-out:
		t.Fatalf("marker answered below the high watermark: %+v", o)
	case <-time.After(20 * time.Millisecond):
	}
	f.setHighWatermark(3)
	p.maybeAdvanceHighWatermark()
	select {
	case o := <-out:
		if o.err != nil || o.offset != 2 {
			t.Fatalf("marker: offset %d, %v; want 2, no error", o.offset, o.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("marker not answered once committed")
	}
	p.stop()
	if _, err := p.AppendMarker(context.Background(), storage.TxnMarker{ProducerID: 1}, AppendOptions{Acks: -1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("marker on a stopped replica: %v; want ErrNotLeader", err)
	}
}
