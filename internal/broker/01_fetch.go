package broker

// Fetch v4–v18, from consumers and from followers (a replica id, v15+ in
// ReplicaState): a follower's fetch records its progress on the leader
// (which moves the high watermark and the ISR) and reads to the log end,
// not the high watermark. Leader epochs are checked as Kafka's
// Partition.fetchRecords does: a CurrentLeaderEpoch (v9+) other than the
// partition's gets FENCED_LEADER_EPOCH (with CurrentLeader naming this
// node, v12+) or UNKNOWN_LEADER_EPOCH; a LastFetchedEpoch (v12+) whose end
// here is before it or before the fetch offset gets DivergingEpoch and no
// records, one this log cannot place OFFSET_OUT_OF_RANGE. Long polling honours max.wait.ms and min.bytes; max.bytes
// and each partition's max bytes bound the answer, except that the first
// non-empty partition returns at least one whole batch (KIP-74).
//
// Fetch sessions (KIP-227) are refused in the way Kafka defines: a request
// asking for a new session gets session ID 0, which tells the client to keep
// sending full fetch requests; a request naming a session we never handed
// out gets FETCH_SESSION_ID_NOT_FOUND. Data is sent as byte ranges of the
// segment files (see Splice); the broker never decodes it.
//
// ACLs, as Kafka: a consumer needs READ on each topic, a follower
// CLUSTER_ACTION on the cluster; denied partitions answer
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func handleFetch(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if code := sessionError(req); code != 0 {
		resp.ErrorCode = code
		return respond(resp)
	}
	f := b.newFetch(req, b.fetchAuthorizer(r, req))
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	var waited time.Duration
	for {
		wakeups := f.watch()
		out := f.read()
		if out.done(req.MinBytes) || !time.Now().Before(deadline) {
			out.resp = resp
			return out.finish(waited), nil
		}
		start := time.Now()
		woken := waitAny(ctx, r.Hangup, wakeups, deadline)
		waited += time.Since(start)
		if !woken {
			out.resp = resp
			return out.finish(waited), nil
		}
		(&Response{Splices: out.splices}).Release() // read again after the wait
	}
}

// sessionError returns the error for a request naming a fetch session,
// since we never create one.
func sessionError(req *kmsg.FetchRequest) int16 {
	if req.Version < 7 {
		return 0
	}
	switch {
	case req.SessionID != 0:
		return kerr.FetchSessionIDNotFound.Code
	case req.SessionEpoch > 0:
		return kerr.InvalidFetchSessionEpoch.Code
	}
	return 0
}

// fetchPartition is one requested partition, resolved to its replica.
type fetchPartition struct {
	topicIdx int
	topic    string
	req      kmsg.FetchRequestTopicPartition
	log      *replica.Partition
	err      *kerr.Error
}

type fetch struct {
	b      *Broker
	req    *kmsg.FetchRequest
	topics []kmsg.FetchResponseTopic
	parts  []fetchPartition
	// replica is the follower fetching, -1 for a consumer.
	replica int32
}

// fetchAuthorizer says which topics r may fetch, as Kafka: a follower
// (replica id >= 0) needs CLUSTER_ACTION on the cluster, a consumer READ on
// each topic; the others answer TOPIC_AUTHORIZATION_FAILED.
func (b *Broker) fetchAuthorizer(r *Request, req *kmsg.FetchRequest) func(topic string) bool {
	if fetchReplicaID(req) >= 0 {
		ok := b.authorizedCluster(r, kmsg.ACLOperationClusterAction)
		return func(string) bool { return ok }
	}
	return b.authorizer(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic)
}

func (b *Broker) newFetch(req *kmsg.FetchRequest, mayRead func(topic string) bool) *fetch {
	f := &fetch{b: b, req: req, replica: fetchReplicaID(req)}
	for i, rt := range req.Topics {
		name, nameErr := b.resolveTopic(rt.Topic, rt.TopicID, req.Version >= 13)
		f.topics = append(f.topics, kmsg.FetchResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID})
		for _, rp := range rt.Partitions {
			fp := fetchPartition{topicIdx: i, topic: name, req: rp, err: nameErr}
			if fp.err == nil && !mayRead(name) {
				fp.err = kerr.TopicAuthorizationFailed
			}
			if fp.err == nil {
				var err error
				fp.log, err = b.partition(name, rp.Partition)
				fp.err = kafkaError(err)
			}
			f.parts = append(f.parts, fp)
		}
	}
	return f
}

// fetchReplicaID is the broker id of a follower's fetch, -1 (or another
// negative: Kafka's consumer and debug ids) for a consumer's.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	id := req.ReplicaID
	if req.Version >= 15 {
		id = req.ReplicaState.ID
	}
	return max(id, -1)
}

// watch returns a channel per readable partition that closes at its next
// append; taken before reading so that no append slips between the two.
func (f *fetch) watch() []<-chan struct{} {
	var chans []<-chan struct{}
	for _, p := range f.parts {
		if p.log != nil {
			chans = append(chans, p.log.Changed())
		}
	}
	return chans
}

// fetchResult is one pass over every partition.
type fetchResult struct {
	f       *fetch
	resp    *kmsg.FetchResponse
	parts   []kmsg.FetchResponseTopicPartition
	sizes   []int64 // bytes of records read, per parts
	splices []Splice
	bytes   int64
	// answerNow: a partition's answer (an error, a diverging epoch) must
	// not wait for data, as in Kafka.
	answerNow bool
	// leaders are the brokers CurrentLeader fields name (KIP-951).
	leaders map[int32]bool
}

func (f *fetch) read() *fetchResult {
	out := &fetchResult{f: f}
	budget := int64(f.req.MaxBytes)
	if f.req.Version < 3 || budget <= 0 {
		budget = 1<<31 - 1
	}
	for _, p := range f.parts {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = p.req.Partition
		rp.PreferredReadReplica = -1
		rp.RecordBatches = []byte{} // empty, not null: librdkafka rejects a null record set
		var n int64
		if p.err != nil {
			rp.ErrorCode, out.answerNow = p.err.Code, true
			out.setCurrentLeader(p, &rp)
		} else {
			n = out.readPartition(p, &rp, min(int64(p.req.PartitionMaxBytes), budget))
			budget -= n
		}
		out.parts = append(out.parts, rp)
		out.sizes = append(out.sizes, n)
	}
	return out
}

// readPartition fills rp from one partition: after the epoch checks
// (CurrentLeaderEpoch v9+, LastFetchedEpoch v12+, as Kafka's
// Partition.fetchRecords), records from the fetch offset up to limit bytes.
// It returns the bytes read.
func (o *fetchResult) readPartition(p fetchPartition, rp *kmsg.FetchResponseTopicPartition, limit int64) int64 {
	current := max(p.req.CurrentLeaderEpoch, replica.NoEpoch) // Kafka's FetchRequest: any negative is none
	lastFetched := max(p.req.LastFetchedEpoch, replica.NoEpoch)
	err := p.log.CheckEpoch(current)
	var diverging *replica.EpochEnd
	if err == nil {
		diverging, err = p.log.Divergence(current, lastFetched, p.req.FetchOffset)
	}
	var res storage.ReadResult
	switch {
	case err != nil || diverging != nil:
	case o.f.replica >= 0:
		err = p.log.FollowerFetched(o.f.replica, p.req.FetchOffset, time.Now())
		if err == nil {
			res, err = p.log.ReadReplica(p.req.FetchOffset, limit, o.bytes == 0)
		}
	case o.f.req.IsolationLevel == 1:
		res, err = p.log.ReadCommitted(p.req.FetchOffset, limit, o.bytes == 0)
	default:
		res, err = p.log.Read(p.req.FetchOffset, limit, o.bytes == 0)
	}
	if err != nil || diverging != nil {
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = p.log.HighWatermark(), p.log.LastStableOffset(), p.log.LogStartOffset()
		rp.ErrorCode, o.answerNow = errorCode(err), true
		if diverging != nil {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = diverging.Epoch, diverging.EndOffset
		}
		o.setCurrentLeader(p, rp)
		return 0
	}
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	if o.f.req.IsolationLevel == 1 {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{} // empty, not null, as Kafka
		for _, a := range res.AbortedTxns {
			rp.AbortedTransactions = append(rp.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset})
		}
	}
	n := chunksLen(res.Chunks)
	if n > 0 {
		marker := newMarker()
		rp.RecordBatches = marker
		o.splices = append(o.splices, Splice{Marker: marker, Chunks: res.Chunks})
		o.bytes += n
	}
	return n
}

// setCurrentLeader names the partition's leader, as the image knows it,
// to a fetcher sent to a broker that does not lead it or with a stale
// epoch (KIP-951, v12+), as Kafka does for NOT_LEADER_OR_FOLLOWER and
// FENCED_LEADER_EPOCH.
func (o *fetchResult) setCurrentLeader(p fetchPartition, rp *kmsg.FetchResponseTopicPartition) {
	if rp.ErrorCode != kerr.FencedLeaderEpoch.Code && rp.ErrorCode != kerr.NotLeaderForPartition.Code || o.f.req.Version < 12 {
		return
	}
	var leader, epoch int32
	var ok bool
	if p.log != nil { // led here: this node's epoch is the newest
		var err error
		epoch, err = p.log.LeaderEpoch()
		leader, ok = o.f.b.cfg.NodeID, err == nil
	} else {
		leader, epoch, ok = o.f.b.currentLeader(p.topic, p.req.Partition)
	}
	if !ok {
		return
	}
	rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = leader, epoch
	if o.leaders == nil {
		o.leaders = map[int32]bool{}
	}
	o.leaders[leader] = true
}

func (o *fetchResult) done(minBytes int32) bool {
	return o.answerNow || o.bytes >= int64(max(minBytes, 1))
}

// finish builds the answer from the last pass, which waited for waited
// in all.
func (o *fetchResult) finish(waited time.Duration) *Response {
	topics := o.f.topics
	m := o.f.b.metrics
	for i, p := range o.f.parts {
		t := &topics[p.topicIdx]
		t.Partitions = append(t.Partitions, o.parts[i])
		m.partitionError(errFetch, o.parts[i].ErrorCode)
		if o.sizes[i] > 0 {
			m.fetched(p.topic, o.sizes[i], o.f.replica >= 0)
		}
	}
	o.resp.Topics = topics
	if o.resp.Version >= 16 {
		// The endpoints of the leaders named in CurrentLeader (KIP-951).
		for _, id := range slices.Sorted(maps.Keys(o.leaders)) {
			if br, ok := o.f.b.broker(id); ok {
				o.resp.Brokers = append(o.resp.Brokers, kmsg.FetchResponseBroker{NodeID: br.NodeID, Host: br.Host, Port: br.Port, Rack: br.Rack})
			}
		}
	}
	return &Response{Msg: o.resp, Splices: o.splices, Wait: waited}
}

func chunksLen(cs []storage.Chunk) int64 {
	var n int64
	for _, c := range cs {
		n += c.Len
	}
	return n
}

// newMarker returns a record-set placeholder that cannot be mistaken for
// anything else in an encoded Fetch response: responses carry no record
// bytes of their own, and the random part keeps a client from planting a
// marker in the topic names or IDs it asks for.
func newMarker() []byte {
	m := make([]byte, MarkerLen)
	binary.BigEndian.PutUint64(m, rand.Uint64())
	binary.BigEndian.PutUint64(m[8:], rand.Uint64())
	return m
}

// MarkerLen is the length of a splice marker.
const MarkerLen = 16

// waitAny blocks until one of chans closes (true), or the deadline passes,
// ctx ends or the client hangs up (false).
func waitAny(ctx context.Context, hangup <-chan struct{}, chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+3)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(hangup)})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 3
}
