package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// fetcher copies the partitions this node follows from one leader, as
// Kafka's ReplicaFetcherThread: one Fetch for all of them at a time, the
// replies appended as the leader wrote them, a divergent tail truncated.
// Its goroutine is the only writer of those partitions' logs.
type fetcher struct {
	m      *Manager
	leader int32
	wake   chan struct{}

	mu struct {
		sync.Mutex
		parts map[topicPartition]*Partition
	}
}

func newFetcher(m *Manager, leader int32) *fetcher {
	f := &fetcher{m: m, leader: leader, wake: make(chan struct{}, 1)}
	f.mu.parts = map[topicPartition]*Partition{}
	return f
}

func (f *fetcher) add(tp topicPartition, p *Partition) {
	f.mu.Lock()
	f.mu.parts[tp] = p
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) remove(tp topicPartition) {
	f.mu.Lock()
	delete(f.mu.parts, tp)
	f.mu.Unlock()
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// fetchPosition is what one partition asked for in a fetch.
type fetchPosition struct {
	tp          topicPartition
	p           *Partition
	epoch       int32
	offset      int64
	lastFetched int32
}

// backoff is how long a fetcher waits after a failed fetch, or a round in
// which no partition could progress (the leader not ready yet).
const backoff = 100 * time.Millisecond

func (f *fetcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		req, sent := f.request()
		if len(sent) == 0 {
			f.sleep(ctx, time.Hour)
			continue
		}
		resp, err := f.m.cfg.Send(ctx, f.leader, req)
		if err != nil {
			if ctx.Err() == nil {
				f.m.cfg.Logger.Debug("fetch from leader failed", "leader", f.leader, "err", err)
			}
			f.sleep(ctx, backoff)
			continue
		}
		fr, ok := resp.(*kmsg.FetchResponse)
		if !ok || !f.handle(ctx, fr, sent) {
			f.sleep(ctx, backoff)
		}
	}
}

// sleep waits for d, a poke or the end.
func (f *fetcher) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-t.C:
	}
}

// request builds one full fetch (no session) of every partition followed
// from this leader, from each log's end.
func (f *fetcher) request() (*kmsg.FetchRequest, []fetchPosition) {
	f.mu.Lock()
	var sent []fetchPosition
	for tp, p := range f.mu.parts {
		sent = append(sent, fetchPosition{tp: tp, p: p})
	}
	f.mu.Unlock()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = f.m.cfg.NodeID, f.m.cfg.NodeID
	req.MaxWaitMillis, req.MinBytes = int32(f.m.cfg.FetchWait/time.Millisecond), f.m.cfg.FetchMinBytes
	req.MaxBytes = 10 << 20 // replica.fetch.response.max.bytes
	req.SessionEpoch = -1
	topics := map[string]int{}
	keep := sent[:0]
	for _, s := range sent {
		leader, epoch, topicID := s.p.followed()
		if leader != f.leader {
			continue
		}
		s.epoch, s.offset = epoch, s.p.log.LogEndOffset()
		s.lastFetched = NoEpoch
		if e, ok := s.p.log.LatestEpoch(); ok {
			s.lastFetched = e
		}
		i, ok := topics[s.tp.topic]
		if !ok {
			i = len(req.Topics)
			topics[s.tp.topic] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = s.tp.topic, topicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = s.tp.partition, s.epoch, s.offset
		rp.LastFetchedEpoch, rp.LogStartOffset = s.lastFetched, s.p.log.LogStartOffset()
		rp.PartitionMaxBytes = f.m.cfg.FetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		keep = append(keep, s)
	}
	return req, keep
}

// handle applies a fetch response, each partition on its own goroutine
// (their appends wait for group commits, fsyncs included). It reports
// whether any partition progressed.
func (f *fetcher) handle(ctx context.Context, resp *kmsg.FetchResponse, sent []fetchPosition) bool {
	if resp.ErrorCode != 0 {
		f.m.cfg.Logger.Debug("fetch from leader refused", "leader", f.leader, "err", kerr.ErrorForCode(resp.ErrorCode))
		return false
	}
	byName := map[topicPartition]*kmsg.FetchResponseTopicPartition{}
	byID := map[[16]byte]string{}
	for _, s := range sent {
		_, _, id := s.p.followed()
		byID[id] = s.tp.topic
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		name := rt.Topic
		if name == "" {
			name = byID[rt.TopicID]
		}
		for j := range rt.Partitions {
			byName[topicPartition{name, rt.Partitions[j].Partition}] = &rt.Partitions[j]
		}
	}
	var wg sync.WaitGroup
	var progressed atomic.Bool
	for _, s := range sent {
		if rp := byName[s.tp]; rp != nil {
			wg.Go(func() {
				if f.apply(ctx, s, rp) {
					progressed.Store(true)
				}
			})
		}
	}
	wg.Wait()
	return progressed.Load()
}

// apply applies one partition's answer; true if the partition progressed.
func (f *fetcher) apply(ctx context.Context, s fetchPosition, rp *kmsg.FetchResponseTopicPartition) bool {
	if leader, epoch, _ := s.p.followed(); leader != f.leader || epoch != s.epoch {
		return false // the leadership changed while the fetch was out
	}
	log := f.m.cfg.Logger.With("topic", s.tp.topic, "partition", s.tp.partition, "leader", f.leader)
	switch {
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
		return f.outOfRange(ctx, s, rp, log)
	case rp.ErrorCode != 0:
		log.Debug("fetch of partition refused", "err", kerr.ErrorForCode(rp.ErrorCode))
		return false
	case rp.DivergingEpoch.EndOffset >= 0:
		return f.truncate(ctx, s, rp.DivergingEpoch, log)
	}
	batches := wholeBatchesFrom(rp.RecordBatches, s.offset)
	if len(batches) > 0 {
		if err := f.appendFetched(ctx, s, batches, log); err != nil {
			log.Warn("appending fetched records failed", "offset", s.offset, "err", err)
			return false
		}
	}
	s.p.log.SetHighWatermark(min(rp.HighWatermark, s.p.log.LogEndOffset()))
	if rp.LogStartOffset > s.p.log.LogStartOffset() && rp.LogStartOffset <= s.p.log.HighWatermark() {
		// Records the leader deleted (DeleteRecords, retention) go here too.
		if _, err := s.p.log.DeleteRecordsBefore(ctx, rp.LogStartOffset); err != nil {
			log.Warn("following the leader's log start offset failed", "log_start", rp.LogStartOffset, "err", err)
		}
	}
	return len(batches) > 0
}

// truncate cuts a tail that diverged from the leader's log, as Kafka's
// fetcher does with a fetch's DivergingEpoch: to where the leader's epoch
// ended, or to where this log's last epoch at or below it ended when that
// is earlier; the next fetch checks again from there.
func (f *fetcher) truncate(ctx context.Context, s fetchPosition, div kmsg.FetchResponseTopicPartitionDivergingEpoch, log *slog.Logger) bool {
	end := s.p.log.LogEndOffset()
	to := min(div.EndOffset, end)
	if div.Epoch >= 0 {
		if _, localEnd := s.p.log.EndOffsetForEpoch(div.Epoch); localEnd >= 0 {
			to = min(to, localEnd)
		}
	}
	got, err := s.p.log.TruncateTo(ctx, to)
	if err != nil {
		log.Warn("truncating a diverged log failed", "to", to, "err", err)
		return false
	}
	log.Info("log truncated: it diverged from the leader's", "from", end, "to", got, "leader_epoch", div.Epoch, "leader_epoch_end", div.EndOffset)
	return true
}

// appendFetched appends fetched batches to the log. The first fetch after
// startAt may begin with a batch below the log end: the leader's log start
// fell inside that batch, which the leader serves whole. As Kafka's
// follower does, the empty log then starts again at the batch's base, and
// apply moves its log start up to the leader's once the batch is in.
func (f *fetcher) appendFetched(ctx context.Context, s fetchPosition, batches []byte, log *slog.Logger) error {
	opts := storage.AppendOptions{Sync: f.m.cfg.SyncFollower}
	_, err := s.p.log.AppendAsFollower(ctx, batches, opts)
	if !errors.Is(err, storage.ErrOffsetMismatch) {
		return err
	}
	h, herr := record.ParseHeader(batches)
	start, end := s.p.log.LogStartOffset(), s.p.log.LogEndOffset()
	if herr != nil || start != end || h.BaseOffset >= end {
		return err
	}
	if err := s.p.log.TruncateFullyAndStartAt(ctx, h.BaseOffset); err != nil {
		return err
	}
	log.Info("log started again at the batch holding the leader's log start", "offset", end, "batch_base_offset", h.BaseOffset)
	_, err = s.p.log.AppendAsFollower(ctx, batches, opts)
	return err
}

// outOfRange handles a fetch offset the leader cannot serve: past its high
// watermark this log holds records the leader lost, which go; below its
// log start the leader deleted what this replica needs next, so the log
// starts again there (startAt).
func (f *fetcher) outOfRange(ctx context.Context, s fetchPosition, rp *kmsg.FetchResponseTopicPartition, log *slog.Logger) bool {
	switch {
	case s.offset > rp.HighWatermark && rp.HighWatermark >= 0:
		return f.truncate(ctx, s, kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: -1, EndOffset: rp.HighWatermark}, log)
	case s.offset < rp.LogStartOffset:
		return f.startAt(ctx, s, rp.LogStartOffset, log)
	}
	// In range by the answer's own bounds: they moved while it was built.
	log.Debug("fetch offset out of range", "offset", s.offset,
		"leader_log_start", rp.LogStartOffset, "leader_high_watermark", rp.HighWatermark)
	return false
}

// startAt empties the log and starts it again at the leader's log start
// offset, as Kafka's fetcher does (truncateFullyAndStartAt) when retention
// or DeleteRecords on the leader removed the records this replica needs
// next while it was away: everything it holds is below where the leader's
// log now begins, so none of it can be kept, and it catches up from there.
func (f *fetcher) startAt(ctx context.Context, s fetchPosition, start int64, log *slog.Logger) bool {
	prevStart := s.p.log.LogStartOffset()
	if err := s.p.log.TruncateFullyAndStartAt(ctx, start); err != nil {
		log.Warn("starting the log again at the leader's log start failed", "offset", s.offset, "leader_log_start", start, "err", err)
		return false
	}
	log.Info("log truncated fully: the leader's log starts past its end", "previous_log_start", prevStart,
		"previous_log_end", s.offset, "log_start", start)
	return true
}

// wholeBatchesFrom returns the batches of a fetched record set that start
// at or after offset, up to the last whole one: a leader may end a reply
// with part of a batch, and a batch before offset is already here.
func wholeBatchesFrom(b []byte, offset int64) []byte {
	start, end := -1, 0
	for end+record.HeaderSize <= len(b) {
		h, err := record.ParseHeader(b[end:])
		if err != nil || end+h.Size() > len(b) {
			break
		}
		if start < 0 && h.LastOffset() >= offset {
			start = end
		}
		end += h.Size()
	}
	if start < 0 {
		return nil
	}
	return b[start:end]
}
