package txn

// DescribeTransactions (API key 65) v0 and ListTransactions (API key 66)
// v0–v2 (v1: KIP-994 duration filter; v2: KIP-1152 transactional id
// pattern). A Coordinator answers for its own partition: the broker asks
// every partition it coordinates and concatenates their TransactionStates.

import (
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) describe(r *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		t := c.txns[id]
		switch {
		case id == "":
			s.ErrorCode = kerr.InvalidRequest.Code
		case !c.owns(id):
			s.ErrorCode = kerr.NotCoordinator.Code
		case t == nil:
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			s.State, s.TimeoutMillis, s.StartTimestamp = t.State.String(), t.TimeoutMs, t.StartMs
			s.ProducerID, s.ProducerEpoch = t.ProducerID, t.ProducerEpoch
			for _, tp := range t.Partitions {
				if n := len(s.Topics); n == 0 || s.Topics[n-1].Topic != tp.Topic {
					dt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					dt.Topic = tp.Topic
					s.Topics = append(s.Topics, dt)
				}
				s.Topics[len(s.Topics)-1].Partitions = append(s.Topics[len(s.Topics)-1].Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp
}

func (c *Coordinator) list(now time.Time, r *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []State
	for _, name := range r.StateFilters {
		if s, ok := stateByName(name); ok {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	var pattern *regexp.Regexp
	if r.Version >= 2 && r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		// Kafka matches the whole id (Java's Matcher.matches).
		p, err := regexp.Compile("^(?:" + *r.TransactionalIDPattern + ")$")
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		pattern = p
	}
	duration := int64(-1)
	if r.Version >= 1 {
		duration = r.DurationFilterMillis
	}
	for _, t := range c.sorted() {
		switch {
		case len(r.StateFilters) > 0 && !slices.Contains(states, t.State),
			len(r.ProducerIDFilters) > 0 && !slices.Contains(r.ProducerIDFilters, t.ProducerID),
			// Longer than duration, as Kafka reads it: ids with no
			// transaction started (-1) always qualify.
			duration >= 0 && now.UnixMilli()-t.StartMs <= duration,
			pattern != nil && !pattern.MatchString(t.id):
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = t.id, t.ProducerID, t.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp
}
