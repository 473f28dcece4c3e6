package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/coordinator"
	"github.com/eddy-streaming/eddy/internal/replica"
)

var (
	errUnsupported = errors.New("txn: not a transaction coordinator request")
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Core configures every partition's Coordinator; Core.NumPartitions is
	// the partition count of __transaction_state.
	Core Config
	// Log returns this node's replica of a __transaction_state partition,
	// nil if there is none (the partition's ids are then unavailable until
	// there is).
	Log func(partition int32) *replica.Partition
	// Leader returns the leader of a partition a transaction wrote to (-1
	// when it has none right now), and false when the partition no longer
	// exists.
	Leader func(topic string, partition int32) (leader int32, exists bool)
	// Send sends a request to a broker (this node included) and returns
	// its response: how markers reach partition leaders.
	Send func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)
	// MarkerBackoff is the first wait before writing markers again after
	// a failure; it doubles up to a second. 0 means 50ms.
	MarkerBackoff time.Duration
}

// Validate reports a configuration that cannot work.
func (c *ManagerConfig) Validate() error {
	switch {
	case c.Log == nil:
		return errors.New("txn: Log is nil")
	case c.Leader == nil || c.Send == nil:
		return errors.New("txn: Leader and Send must be set")
	}
	return c.Core.Validate()
}

// Manager serves the transaction coordinator APIs for the
// __transaction_state partitions this node is elected coordinator of
// (Elect): one runner goroutine, owning one Coordinator, per elected
// partition. Ids of other partitions are answered NOT_COORDINATOR.
type Manager struct {
	cfg     ManagerConfig
	log     *slog.Logger
	runners *coordinator.Registry
}

// NewManager returns a Manager coordinating no partition yet; Elect
// starts the coordinator of one.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Core.Logger == nil {
		cfg.Core.Logger = cfg.Logger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MarkerBackoff <= 0 {
		cfg.MarkerBackoff = 50 * time.Millisecond
	}
	m := &Manager{cfg: cfg, log: cfg.Logger}
	runners, err := coordinator.NewRegistry(coordinator.Config{
		Name: "transaction", Logger: cfg.Logger, Now: cfg.Now, NumPartitions: cfg.Core.NumPartitions, Log: cfg.Log,
		NewLoader:       func(r *coordinator.Runner) coordinator.Loader { return &loader{m: m, r: r} },
		ErrorResponse:   ErrorResponse,
		AppendErrorCode: appendErrorCode,
	})
	if err != nil {
		return nil, fmt.Errorf("txn: %w", err)
	}
	m.runners = runners
	return m, nil
}

// NumPartitions is the partition count of __transaction_state.
func (m *Manager) NumPartitions() int32 { return m.cfg.Core.NumPartitions }

// Elect makes this node the coordinator of partition's transactional ids
// at the partition's leader epoch (the coordinator epoch): the
// coordinator loads them from the partition's log in the background,
// answering COORDINATOR_LOAD_IN_PROGRESS until done, then resumes the
// markers of transactions left preparing. An election at the epoch
// already held, or an older one, changes nothing; a newer one reloads.
func (m *Manager) Elect(partition, epoch int32) error {
	if err := m.runners.Elect(partition, epoch); err != nil {
		return fmt.Errorf("txn: %w", err)
	}
	return nil
}

// Resign stops coordinating partition's ids (its leadership moved):
// waiting requests are answered NOT_COORDINATOR, marker writing stops
// (the next coordinator resumes it) and later requests are answered
// NOT_COORDINATOR until Elect.
func (m *Manager) Resign(partition int32) { m.runners.Resign(partition) }

// WaitLoaded waits until every elected partition has finished its first
// load (or failed it), or ctx ends.
func (m *Manager) WaitLoaded(ctx context.Context) error { return m.runners.WaitLoaded(ctx) }

// Close stops every coordinator. Requests still waiting are answered
// NOT_COORDINATOR, which sends clients to look for the new coordinator.
func (m *Manager) Close() error {
	m.runners.Close()
	return nil
}

// do sends req to partition's coordinator, NOT_COORDINATOR if this node
// is not it.
func (m *Manager) do(ctx context.Context, partition int32, req kmsg.Request) kmsg.Response {
	return m.runners.Do(ctx, partition, req, nil)
}

func (m *Manager) partitionOf(id string) int32 { return PartitionFor(id, m.cfg.Core.NumPartitions) }

// Handle answers a transaction coordinator request: InitProducerId with a
// transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// DescribeTransactions and ListTransactions (their version set). Requests
// naming several ids are split by partition and the answers merged.
func (m *Manager) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if id, ok := singleID(req); ok && id == "" {
		return ErrorResponse(req, kerr.InvalidRequest.Code), nil
	}
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID == nil {
			return nil, fmt.Errorf("%w: InitProducerId without a transactional id", errUnsupported)
		}
		return m.do(ctx, m.partitionOf(*r.TransactionalID), req), nil
	case *kmsg.AddPartitionsToTxnRequest:
		if r.Version < 4 {
			return m.do(ctx, m.partitionOf(r.TransactionalID), req), nil
		}
		return m.addPartitionsBatch(ctx, r), nil
	case *kmsg.AddOffsetsToTxnRequest:
		return m.do(ctx, m.partitionOf(r.TransactionalID), req), nil
	case *kmsg.EndTxnRequest:
		return m.do(ctx, m.partitionOf(r.TransactionalID), req), nil
	case *kmsg.DescribeTransactionsRequest:
		return m.describe(ctx, r), nil
	case *kmsg.ListTransactionsRequest:
		return m.list(ctx, r), nil
	}
	return nil, fmt.Errorf("%w: api key %d", errUnsupported, req.Key())
}

// addPartitionsBatch splits a broker's AddPartitionsToTxn v4+ by the
// partition of each transaction.
func (m *Manager) addPartitionsBatch(ctx context.Context, r *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	byPartition := make(map[int32][]kmsg.AddPartitionsToTxnRequestTransaction)
	for _, tr := range r.Transactions {
		p := m.partitionOf(tr.TransactionalID)
		byPartition[p] = append(byPartition[p], tr)
	}
	for _, p := range slices.Sorted(maps.Keys(byPartition)) {
		sub := *r
		sub.Transactions = byPartition[p]
		sr := m.do(ctx, p, &sub).(*kmsg.AddPartitionsToTxnResponse)
		resp.Transactions = append(resp.Transactions, sr.Transactions...)
		resp.ThrottleMillis = max(resp.ThrottleMillis, sr.ThrottleMillis)
		if sr.ErrorCode != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = sr.ErrorCode
		}
	}
	return resp
}

// describe splits a DescribeTransactions by partition and answers in the
// order the ids were named.
func (m *Manager) describe(ctx context.Context, r *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	resp.TransactionStates = make([]kmsg.DescribeTransactionsResponseTransactionState, len(r.TransactionalIDs))
	byPartition := make(map[int32][]int)
	for i, id := range r.TransactionalIDs {
		p := m.partitionOf(id)
		byPartition[p] = append(byPartition[p], i)
	}
	for p, idx := range byPartition {
		sub := *r
		sub.TransactionalIDs = nil
		for _, i := range idx {
			sub.TransactionalIDs = append(sub.TransactionalIDs, r.TransactionalIDs[i])
		}
		sr := m.do(ctx, p, &sub).(*kmsg.DescribeTransactionsResponse)
		for j, i := range idx {
			resp.TransactionStates[i] = sr.TransactionStates[j]
		}
	}
	return resp
}

// list asks every coordinator this node runs; a partition still loading
// makes the answer COORDINATOR_LOAD_IN_PROGRESS with the ids known so
// far, as Kafka does.
func (m *Manager) list(ctx context.Context, r *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	for _, run := range m.runners.Elected() {
		sr := run.Do(ctx, r, nil).(*kmsg.ListTransactionsResponse)
		if sr.ErrorCode != 0 && resp.ErrorCode == 0 {
			resp.ErrorCode = sr.ErrorCode
		}
		resp.TransactionStates = append(resp.TransactionStates, sr.TransactionStates...)
		resp.UnknownStateFilters = sr.UnknownStateFilters
	}
	if resp.UnknownStateFilters == nil {
		// With no coordinator here the filters are still checked.
		for _, name := range r.StateFilters {
			if _, ok := stateByName(name); !ok {
				resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			}
		}
	}
	return resp
}

// singleID is the transactional id of a request about one id.
func singleID(req kmsg.Request) (string, bool) {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID != nil {
			return *r.TransactionalID, true
		}
	case *kmsg.AddPartitionsToTxnRequest:
		return r.TransactionalID, r.Version < 4
	case *kmsg.AddOffsetsToTxnRequest:
		return r.TransactionalID, true
	case *kmsg.EndTxnRequest:
		return r.TransactionalID, true
	}
	return "", false
}
