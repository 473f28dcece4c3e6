package txn

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	errCorruptIDFile = errors.New("txn: corrupt producer id file")
	errBadRecord     = errors.New("txn: bad __transaction_state record")
	errUnknownRecord = errors.New("txn: __transaction_state record of an unknown kind")
)

// ErrorResponse answers req with code everywhere an error can go: for
// the runner to answer requests whose records failed to append (Kafka
// answers NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE by the append
// error), or that reach a partition this node does not coordinate.
func ErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, noProducerID, noProducerEpoch
		return resp
	case *kmsg.AddPartitionsToTxnRequest:
		return addPartitionsError(r, code)
	case *kmsg.AddOffsetsToTxnRequest:
		resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.EndTxnRequest:
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, noProducerID, noProducerEpoch
		return resp
	case *kmsg.DescribeTransactionsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		for _, id := range r.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, code
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
		return resp
	case *kmsg.ListTransactionsRequest:
		resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
		resp.ErrorCode = code
		return resp
	}
	return nil
}

// addPartitionsError puts code on every partition of every transaction.
func addPartitionsError(r *kmsg.AddPartitionsToTxnRequest, code int16) *kmsg.AddPartitionsToTxnResponse {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version < 4 {
		var tps []TopicPartition
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, TopicPartition{t.Topic, p})
			}
		}
		resp.Topics = topicResults(tps, all(tps, code))
		return resp
	}
	for _, tr := range r.Transactions {
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tr.TransactionalID
		for _, t := range tr.Topics {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = t.Topic
			for _, p := range t.Partitions {
				tp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				tp.Partition, tp.ErrorCode = p, code
				tt.Partitions = append(tt.Partitions, tp)
			}
			rt.Topics = append(rt.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp
}
