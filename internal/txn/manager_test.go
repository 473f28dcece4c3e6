package txn

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

const managerPartitions = 3

// markerBroker stands in for the partition leaders: it records the
// WriteTxnMarkers it is sent and answers them with code, or an error.
type markerBroker struct {
	mu   sync.Mutex
	code int16
	err  error
	got  []*kmsg.WriteTxnMarkersRequest
	sent chan struct{} // one per request, never blocking
}

func (b *markerBroker) send(_ context.Context, _ int32, req kmsg.Request) (kmsg.Response, error) {
	r := req.(*kmsg.WriteTxnMarkersRequest)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, r)
	select {
	case b.sent <- struct{}{}:
	default:
	}
	if b.err != nil {
		return nil, b.err
	}
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, b.code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func (b *markerBroker) set(code int16, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.code, b.err = code, err
}

// managerEnv is a Manager over real logs of __transaction_state.
type managerEnv struct {
	t      *testing.T
	logs   *storage.Manager
	m      *Manager
	broker *markerBroker
}

func openManager(t *testing.T, dir string, broker *markerBroker) *managerEnv {
	t.Helper()
	ctx := context.Background()
	logs, err := storage.Open(ctx, storage.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(managerPartitions) {
		if logs.Log("__transaction_state", p) != nil {
			continue
		}
		if _, err := logs.CreateLog("__transaction_state", p, storage.DefaultLogConfig()); err != nil {
			t.Fatal(err)
		}
	}
	replicas := replica.NewManager(replica.Config{NodeID: 1, Logs: logs})
	if err := replicas.Lead("__transaction_state", 0, managerPartitions, 0); err != nil {
		t.Fatal(err)
	}
	var next int64
	var nextMu sync.Mutex
	core := DefaultConfig()
	core.NumPartitions = managerPartitions
	core.NextProducerID = func() (int64, error) {
		nextMu.Lock()
		defer nextMu.Unlock()
		next++
		return next, nil
	}
	core.OffsetsPartition = func(string) int32 { return 0 }
	m, err := NewManager(ManagerConfig{
		Core: core,
		Log: func(p int32) *replica.Partition {
			part, _ := replicas.Partition("__transaction_state", p)
			return part
		},
		Leader:        func(string, int32) (int32, bool) { return 1, true },
		Send:          broker.send,
		MarkerBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(managerPartitions) {
		if err := m.Elect(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	e := &managerEnv{t: t, logs: logs, m: m, broker: broker}
	t.Cleanup(e.close)
	return e
}

func (e *managerEnv) close() {
	if e.m == nil {
		return
	}
	e.m.Close()
	e.logs.Close()
	e.m = nil
}

func (e *managerEnv) handle(req kmsg.Request) kmsg.Response {
	e.t.Helper()
	resp, err := e.m.Handle(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// begin initializes id's producer and adds partitions 0 and 1 of "t".
func (e *managerEnv) begin(id string) (int64, int16) {
	e.t.Helper()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, &id, 60000
	ir := e.handle(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 {
		e.t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, ir.ProducerID, ir.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	ar := e.handle(add).(*kmsg.AddPartitionsToTxnResponse)
	for _, tr := range ar.Topics {
		for _, p := range tr.Partitions {
			if p.ErrorCode != 0 {
				e.t.Fatalf("AddPartitionsToTxn %s-%d: %v", tr.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	return ir.ProducerID, ir.ProducerEpoch
}

func (e *managerEnv) end(id string, pid int64, epoch int16, commit bool) {
	e.t.Helper()
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, pid, epoch, commit
	if r := e.handle(end).(*kmsg.EndTxnResponse); r.ErrorCode != 0 {
		e.t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// waitState polls DescribeTransactions until id is in state.
func (e *managerEnv) waitState(id, state string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		s := e.handle(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
		if s.ErrorCode == 0 && s.State == state {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: state %s (error %v), want %s", id, s.State, kerr.ErrorForCode(s.ErrorCode), state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestManagerCommit runs a transaction through the runner: markers are
// written once PrepareCommit is durable, then the commit completes.
func TestManagerCommit(t *testing.T) {
	e := openManager(t, t.TempDir(), &markerBroker{sent: make(chan struct{}, 1)})
	pid, epoch := e.begin("tx")
	e.end("tx", pid, epoch, true)
	e.waitState("tx", "CompleteCommit")
	e.broker.mu.Lock()
	defer e.broker.mu.Unlock()
	if len(e.broker.got) != 1 {
		t.Fatalf("%d WriteTxnMarkers sent, want 1", len(e.broker.got))
	}
	m := e.broker.got[0].Markers[0]
	if !m.Committed || m.ProducerID != pid || m.ProducerEpoch != epoch || len(m.Topics) != 1 || len(m.Topics[0].Partitions) != 2 {
		t.Fatalf("marker %+v, want a commit of producer %d epoch %d on t-0 and t-1", m, pid, epoch)
	}
}

// TestManagerMarkersRetriedAndResumed checks that markers refused are
// retried, and that a coordinator that stops with a transaction
// preparing has the next one, loading the log, finish it.
func TestManagerMarkersRetriedAndResumed(t *testing.T) {
	dir := t.TempDir()
	broker := &markerBroker{sent: make(chan struct{}, 1)}
	broker.set(0, errors.New("connection refused"))
	e := openManager(t, dir, broker)
	pid, epoch := e.begin("tx")
	e.end("tx", pid, epoch, false)
	<-broker.sent
	<-broker.sent // a retry
	e.waitState("tx", "PrepareAbort")
	e.close()

	broker.set(kerr.NotLeaderForPartition.Code, nil)
	e = openManager(t, dir, broker)
	e.waitState("tx", "PrepareAbort")
	<-broker.sent
	broker.set(0, nil)
	e.waitState("tx", "CompleteAbort")
}

// TestManagerNotCoordinator checks the answers for partitions not elected
// and ListTransactions across the elected ones.
func TestManagerNotCoordinator(t *testing.T) {
	e := openManager(t, t.TempDir(), &markerBroker{sent: make(chan struct{}, 1)})
	e.begin("a")
	e.begin("b")
	list := kmsg.NewPtrListTransactionsRequest()
	if r := e.handle(list).(*kmsg.ListTransactionsResponse); r.ErrorCode != 0 || len(r.TransactionStates) != 2 {
		t.Fatalf("ListTransactions: %v, %d states, want 2", kerr.ErrorForCode(r.ErrorCode), len(r.TransactionStates))
	}
	e.m.Resign(PartitionFor("a", managerPartitions))
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID = "a"
	if r := e.handle(end).(*kmsg.EndTxnResponse); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("EndTxn after resigning: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.ErrorCode))
	}
}
