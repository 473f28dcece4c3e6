package broker

// Produce v3–v13 (record batch v2 only; v13 names topics by ID). Every
// partition of a request is appended concurrently; acks=all waits for the
// data to be fsynced (group-committed with its neighbours) unless
// eddy.fsync.acks.all is false; acks=1 returns once the data is written to
// the file; acks=0 sends no answer. Idempotent batches are checked per
// producer and partition by the log; a duplicate is answered with the
// original offset. A transactional batch needs the request's transactional
// id (else the request fails whole with TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
// as in Kafka) and, the first time per producer and partition since its
// last marker there, the coordinator's word that the partition is in the
// producer's transaction (verify.go): INVALID_TXN_STATE if it is not.
//
// Every batch is validated as Kafka's LogValidator does (compressed ones
// decompressed): a bad CRC is CORRUPT_MESSAGE; bad framing, counts, offsets,
// compression or header flags are INVALID_RECORD (Kafka answers
// UNKNOWN_SERVER_ERROR for an undecodable compressed stream, an accident of
// its exception types: INVALID_RECORD tells the producer not to retry).
// Records rejected one by one (no key on a compacted topic) are listed in
// ErrorRecords (v8+, KIP-467) so a client fails only those. zstd needs v7+
// (UNSUPPORTED_COMPRESSION_TYPE before).
//
// ACLs, as Kafka: a transactional batch needs WRITE on the request's
// transactional id (else the whole request answers
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED); each topic needs WRITE, else its
// partitions answer TOPIC_AUTHORIZATION_FAILED. An idempotent producer was
// checked when it got its producer id (InitProducerId).

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func handleProduce(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var fail *kerr.Error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		fail = kerr.InvalidRequiredAcks
	case req.TransactionID == nil && hasTransactionalBatch(req):
		fail = kerr.TransactionalIDAuthorizationFailed
	case req.TransactionID != nil && !b.authorized(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID) &&
		hasTransactionalBatch(req):
		fail = kerr.TransactionalIDAuthorizationFailed
	}
	mayWrite := b.authorizer(r, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic)
	opts := replica.AppendOptions{
		Acks:    req.Acks,
		Timeout: time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond,
		Hangup:  r.Hangup,
		Storage: storage.AppendOptions{
			Sync:       req.Acks == -1 && b.cfg.Settings.Bool("eddy.fsync.acks.all"),
			FromClient: true,
		},
	}
	var wg sync.WaitGroup
	var waited atomic.Int64 // the longest acks=all wait of a partition
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		name, nameErr := b.resolveTopic(rt.Topic, rt.TopicID, req.Version >= 13)
		if nameErr == nil && !mayWrite(name) {
			nameErr = kerr.TopicAuthorizationFailed
		}
		if nameErr == nil && meta.IsInternalTopic(name) {
			nameErr = kerr.InvalidTopicException // only the broker writes internal topics
		}
		if fail != nil {
			nameErr = fail
		}
		out := &resp.Topics[i]
		out.Topic, out.TopicID = rt.Topic, rt.TopicID
		out.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			po := &out.Partitions[j]
			*po = kmsg.NewProduceResponseTopicPartition()
			po.Partition = rp.Partition
			if nameErr != nil {
				po.ErrorCode = nameErr.Code
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var wait time.Duration
				opts := opts
				opts.Waited = &wait
				b.producePartition(ctx, name, rp, req, opts, po)
				maxInt64(&waited, int64(wait))
			}()
		}
	}
	wg.Wait()
	b.countProduceErrors(resp)
	if req.Acks == 0 {
		return nil, nil
	}
	if req.Version >= 10 {
		b.nameProduceLeaders(resp)
	}
	return &Response{Msg: resp, Wait: time.Duration(waited.Load())}, nil
}

// maxInt64 raises a to v if v is larger.
func maxInt64(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
	}
}

func (b *Broker) countProduceErrors(resp *kmsg.ProduceResponse) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			b.metrics.partitionError(errProduce, resp.Topics[i].Partitions[j].ErrorCode)
		}
	}
}

// nameProduceLeaders tells a client sent to a broker that does not lead a
// partition which one does (KIP-951, v10+): the leader and epoch in the
// partition's answer, its endpoint in the response's brokers.
func (b *Broker) nameProduceLeaders(resp *kmsg.ProduceResponse) {
	named := map[int32]bool{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			name := rt.Topic
			if t, found := b.meta.TopicByID(rt.TopicID); name == "" && found {
				name = t.Name
			}
			leader, epoch, ok := b.currentLeader(name, rp.Partition)
			if !ok {
				continue
			}
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = leader, epoch
			if br, ok := b.broker(leader); ok && !named[leader] {
				named[leader] = true
				resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: br.NodeID, Host: br.Host, Port: br.Port, Rack: br.Rack})
			}
		}
	}
}

// hasTransactionalBatch reports whether the first batch of any partition
// is transactional, which is what Kafka looks at.
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if h, err := record.ParseHeader(rp.Records); err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}

func (b *Broker) producePartition(ctx context.Context, topic string, rp kmsg.ProduceRequestTopicPartition, req *kmsg.ProduceRequest, opts replica.AppendOptions, out *kmsg.ProduceResponseTopicPartition) {
	l, err := b.partition(topic, rp.Partition)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return
	}
	if len(rp.Records) == 0 {
		out.ErrorCode = kerr.InvalidRecord.Code
		return
	}
	h, err := record.ParseHeader(rp.Records)
	if err == nil && h.Codec() == record.Zstd && req.Version < 7 {
		out.ErrorCode = kerr.UnsupportedCompressionType.Code
		return
	}
	if err == nil && h.IsTransactional() && req.TransactionID != nil && h.ProducerID >= 0 {
		add := req.Version >= 12 // a transaction version 2 client
		if code := b.verifyTxnBatch(ctx, *req.TransactionID, topic, rp.Partition, h, add); code != 0 {
			out.ErrorCode = code
			return
		}
	}
	res, err := l.Append(ctx, rp.Records, opts)
	if err != nil {
		b.refuseProduce(topic, rp.Partition, err, out)
		out.LogStartOffset = l.LogStartOffset()
		return
	}
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	if !res.Duplicate {
		b.metrics.produced(topic, rp.Records, h) // appended, so its header parsed
	}
}

// refuseProduce fills a partition's error, listing the records to blame
// when the log named them, and logs bad batches where an operator sees them.
func (b *Broker) refuseProduce(topic string, partition int32, err error, out *kmsg.ProduceResponseTopicPartition) {
	out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
	var re *record.RecordsError
	if errors.As(err, &re) {
		for _, r := range re.Records {
			er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			er.RelativeOffset, er.ErrorMessage = r.Index, &r.Message
			out.ErrorRecords = append(out.ErrorRecords, er)
		}
	}
	if out.ErrorCode == kerr.CorruptMessage.Code || out.ErrorCode == kerr.InvalidRecord.Code {
		b.log.Info("produce batch rejected", "topic", topic, "partition", partition, "err", err)
		return
	}
	b.log.Debug("produce refused", "topic", topic, "partition", partition, "err", err)
}
