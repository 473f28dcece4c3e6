package broker

// Produce v3–v13 (record batch v2 only; v13 names topics by ID). Every
// partition of a request is appended concurrently; acks=all waits for the
// data to be fsynced (group-committed with its neighbours) unless
// eddy.fsync.acks.all is false; acks=1 returns once the data is written to
// the file; acks=0 sends no answer. Idempotent batches are checked per
// producer and partition by the log; a duplicate is answered with the
// original offset. Transactional produce is not served yet (no
// transaction APIs are advertised).

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func handleProduce(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var fail *kerr.Error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		fail = kerr.InvalidRequiredAcks
	case req.TransactionID != nil:
		fail = kerr.TransactionalIDAuthorizationFailed
	}
	if req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	opts := storage.AppendOptions{Sync: req.Acks == -1 && b.cfg.Settings.Bool("eddy.fsync.acks.all")}
	var wg sync.WaitGroup
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		name, nameErr := b.resolveTopic(rt.Topic, rt.TopicID, req.Version >= 13)
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
				b.producePartition(ctx, name, rp, opts, po)
			}()
		}
	}
	wg.Wait()
	if req.Acks == 0 {
		return nil, nil
	}
	return respond(resp)
}

func (b *Broker) producePartition(ctx context.Context, topic string, rp kmsg.ProduceRequestTopicPartition, opts storage.AppendOptions, out *kmsg.ProduceResponseTopicPartition) {
	l := b.logs.Log(topic, rp.Partition)
	if l == nil {
		out.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	if len(rp.Records) == 0 {
		out.ErrorCode = kerr.InvalidRecord.Code
		return
	}
	res, err := l.Append(ctx, rp.Records, opts)
	if err != nil {
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		out.LogStartOffset = l.LogStartOffset()
		b.log.Debug("produce refused", "topic", topic, "partition", rp.Partition, "err", err)
		return
	}
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
}
