package broker

// ACL checks of the transaction coordinator APIs, made before the
// coordinator sees a request, as Kafka's KafkaApis does (txns.go routes
// what is left; InitProducerId checks in 22_init_producer_id.go):
//
//	AddPartitionsToTxn v0–v3   WRITE on the transactional id, WRITE on each topic
//	AddPartitionsToTxn v4+     CLUSTER_ACTION on the cluster (sent by brokers)
//	AddOffsetsToTxn            WRITE on the transactional id, READ on the group
//	EndTxn                     WRITE on the transactional id
//	DescribeTransactions       DESCRIBE on each transactional id; topics not DESCRIBE-able left out
//	ListTransactions           only the transactional ids it may DESCRIBE
//
// A denied topic of AddPartitionsToTxn fails the request: its partitions
// answer TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED,
// and nothing is added.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/txn"
)

// txnFinish completes the coordinator's answer (nil when it was not asked).
type txnFinish func(kmsg.Response) kmsg.Response

// authorizeTxnRequest checks a transaction API request. It returns the
// request to send the coordinator (nil: none) and how to finish the answer.
func (b *Broker) authorizeTxnRequest(r *Request) (kmsg.Request, txnFinish) {
	if b.cfg.Authorizer == nil || r.internal {
		return r.Msg, unchanged
	}
	mayWriteID := func(id string) bool {
		return b.authorized(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id)
	}
	switch req := r.Msg.(type) {
	case *kmsg.AddPartitionsToTxnRequest:
		if req.Version >= 4 {
			return b.authorizeAddPartitionsBatch(r, req)
		}
		if !mayWriteID(req.TransactionalID) {
			return denyTxn(req, kerr.TransactionalIDAuthorizationFailed.Code)
		}
		return b.authorizeAddPartitions(r, req)
	case *kmsg.AddOffsetsToTxnRequest:
		if !mayWriteID(req.TransactionalID) {
			return denyTxn(req, kerr.TransactionalIDAuthorizationFailed.Code)
		}
		if !b.authorized(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
			return denyTxn(req, kerr.GroupAuthorizationFailed.Code)
		}
	case *kmsg.EndTxnRequest:
		if !mayWriteID(req.TransactionalID) {
			return denyTxn(req, kerr.TransactionalIDAuthorizationFailed.Code)
		}
	case *kmsg.DescribeTransactionsRequest:
		return b.authorizeDescribeTransactions(r, req)
	case *kmsg.ListTransactionsRequest:
		may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId)
		return req, func(resp kmsg.Response) kmsg.Response {
			out := resp.(*kmsg.ListTransactionsResponse)
			kept := out.TransactionStates[:0]
			for _, s := range out.TransactionStates {
				if may(s.TransactionalID) {
					kept = append(kept, s)
				}
			}
			out.TransactionStates = kept
			return out
		}
	}
	return r.Msg, unchanged
}

// denyTxn answers the whole request with code, asking no coordinator.
func denyTxn(req kmsg.Request, code int16) (kmsg.Request, txnFinish) {
	return nil, func(kmsg.Response) kmsg.Response { return txn.ErrorResponse(req, code) }
}

// authorizeAddPartitionsBatch checks the brokers' batched form (v4+).
func (b *Broker) authorizeAddPartitionsBatch(r *Request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Request, txnFinish) {
	if b.authorizedCluster(r, kmsg.ACLOperationClusterAction) {
		return req, unchanged
	}
	return nil, func(kmsg.Response) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
}

// authorizeAddPartitions checks WRITE on a client's topics (v0–v3).
func (b *Broker) authorizeAddPartitions(r *Request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Request, txnFinish) {
	mayWrite := b.authorizer(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic)
	anyDenied := false
	for _, t := range req.Topics {
		anyDenied = anyDenied || !mayWrite(t.Topic)
	}
	if !anyDenied {
		return req, unchanged
	}
	return nil, func(kmsg.Response) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				switch {
				case !mayWrite(t.Topic):
					rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case !b.partitionExists(t.Topic, p):
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					rp.ErrorCode = kerr.OperationNotAttempted.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
}

func (b *Broker) authorizeDescribeTransactions(r *Request, req *kmsg.DescribeTransactionsRequest) (kmsg.Request, txnFinish) {
	may := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId)
	mayDescribe := b.authorizer(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic)
	ids, _ := allowedNames(req.TransactionalIDs, may)
	sub := *req
	sub.TransactionalIDs = ids
	finish := func(resp kmsg.Response) kmsg.Response {
		out := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		var got []kmsg.DescribeTransactionsResponseTransactionState
		if resp != nil {
			got = resp.(*kmsg.DescribeTransactionsResponse).TransactionStates
		}
		out.TransactionStates = mergeGroups(req.TransactionalIDs, may, got, func(id string) kmsg.DescribeTransactionsResponseTransactionState {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
			return s
		})
		for i := range out.TransactionStates {
			s := &out.TransactionStates[i]
			kept := s.Topics[:0]
			for _, t := range s.Topics {
				if mayDescribe(t.Topic) {
					kept = append(kept, t)
				}
			}
			s.Topics = kept
		}
		return out
	}
	if len(ids) == 0 {
		return nil, finish
	}
	return &sub, finish
}
