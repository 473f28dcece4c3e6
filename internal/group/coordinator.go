package group

import (
	"container/heap"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// replyID names a request whose reply the core owes.
type replyID uint64

type reply struct {
	id   replyID
	resp kmsg.Response
}

// output is what a core step produced: records to persist, then replies
// to release once they are durable.
type output struct {
	records []logRecord
	replies []reply
}

// logRecord is a record to persist; a producerID >= 0 writes it in that
// producer's transaction (TxnOffsetCommit), in a transactional batch.
type logRecord struct {
	record.Record
	producerID    int64
	producerEpoch int16
}

type coreConfig struct {
	settings        settings
	partitionExists func(topic string, partition int32) bool
	topicName       func(id [16]byte) (string, bool)
	topicID         func(topic string) ([16]byte, bool)
	topics          func() map[string]int32                 // topic → partitions, for consumer groups
	groupConfig     func(group, name string) (string, bool) // a group's dynamic configs; may be nil
	newUUID         func() string                           // unique part of generated member ids
	log             *slog.Logger
	rebalances      prometheus.Counter // may be nil
}

// coordinator is the deterministic core of one __consumer_offsets
// partition: every input carries the time, and the only outputs are
// ready() and deadline(). It is not safe for concurrent use.
type coordinator struct {
	cfg        coreConfig
	log        *slog.Logger
	groups     map[string]*group
	parked     map[replyID]string // parked reply → its group
	timers     timerHeap
	nextExpiry time.Time
	out        output
	skipped    map[int16]int // replayed records of unknown kinds, by key version

	txnOffsets map[int64]txnOffsets // pending transactional offsets by producer id
	commitSeq  int64                // orders every offset commit, as log offsets do
}

func newCoordinator(cfg coreConfig) *coordinator {
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return &coordinator{cfg: cfg, log: cfg.log, groups: make(map[string]*group), parked: make(map[replyID]string)}
}

// loaded ends the replay: groups with neither metadata, consumer group
// members nor offsets are dropped, and restored members get a full
// session to heartbeat.
func (c *coordinator) loaded(now time.Time) {
	for _, version := range slices.Sorted(maps.Keys(c.skipped)) {
		c.log.Info("skipped __consumer_offsets records of an unknown kind", "key_version", version, "records", c.skipped[version])
	}
	c.skipped = nil
	for id, g := range c.groups {
		if g.cg != nil {
			c.loadedConsumer(now, g)
		}
		if !g.hasMetadata && len(g.offsets) == 0 && g.empty() && !c.hasPendingTxn(id, nil) {
			delete(c.groups, id)
			continue
		}
		for _, m := range g.members {
			m.expires = now.Add(m.session())
		}
		c.schedule(g)
	}
	c.nextExpiry = now.Add(c.cfg.settings.retentionCheck)
}

// ready takes the step's output.
func (c *coordinator) ready() output {
	out := c.out
	c.out = output{}
	return out
}

// deadline is when tick must next be called.
func (c *coordinator) deadline() (time.Time, bool) {
	next := c.nextExpiry
	if len(c.timers) > 0 && c.timers[0].at.Before(next) {
		next = c.timers[0].at
	}
	return next, !next.IsZero()
}

// handle steps one request: its reply is in the output now, or later if
// it parks (JoinGroup and SyncGroup waiting for the rebalance).
func (c *coordinator) handle(now time.Time, id replyID, ci ClientInfo, req kmsg.Request) {
	var resp kmsg.Response
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		resp = c.join(now, id, ci, r)
	case *kmsg.SyncGroupRequest:
		resp = c.sync(now, id, r)
	case *kmsg.HeartbeatRequest:
		resp = c.heartbeat(now, r)
	case *kmsg.LeaveGroupRequest:
		resp = c.leave(now, r)
	case *kmsg.OffsetCommitRequest:
		resp = c.commit(now, r)
	case *kmsg.TxnOffsetCommitRequest:
		resp = c.txnCommit(now, r)
	case *kmsg.OffsetFetchRequest:
		resp = c.fetch(r)
	case *kmsg.OffsetDeleteRequest:
		resp = c.offsetDelete(r)
	case *kmsg.DescribeGroupsRequest:
		resp = c.describe(r)
	case *kmsg.ListGroupsRequest:
		resp = c.list(r)
	case *kmsg.DeleteGroupsRequest:
		resp = c.deleteGroups(r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp = c.consumerHeartbeat(now, ci, r)
	case *kmsg.ConsumerGroupDescribeRequest:
		resp = c.consumerDescribe(r)
	default:
		resp = errorResponse(req, kerr.UnsupportedVersion.Code)
	}
	if resp != nil {
		c.reply(id, resp)
	}
}

func (c *coordinator) reply(id replyID, resp kmsg.Response) {
	delete(c.parked, id)
	c.out.replies = append(c.out.replies, reply{id, resp})
}

// park notes that the reply to p waits in group g.
func (c *coordinator) park(g *group, p *parked) { c.parked[p.id] = g.id }

// cancel drops a parked reply whose client went away. The member then
// counts as not rejoined, and its session runs again.
func (c *coordinator) cancel(now time.Time, id replyID) {
	gid, ok := c.parked[id]
	if !ok {
		return
	}
	delete(c.parked, id)
	g := c.groups[gid]
	if g == nil {
		return
	}
	for _, m := range g.members {
		if m.join != nil && m.join.id == id {
			m.join = nil
			m.expires = now.Add(m.session())
		}
		if m.sync != nil && m.sync.id == id {
			m.sync = nil
			m.expires = now.Add(m.session())
		}
	}
	c.schedule(g)
}

// tick runs what is due at now: member expiry, rebalance and sync
// deadlines, and the periodic offset expiry.
func (c *coordinator) tick(now time.Time) {
	for len(c.timers) > 0 && !c.timers[0].at.After(now) {
		t := heap.Pop(&c.timers).(timer)
		g := c.groups[t.group]
		if g == nil {
			continue
		}
		if g.scheduled.Equal(t.at) {
			g.scheduled = time.Time{}
		}
		c.tickGroup(now, g)
		c.schedule(g)
	}
	if !c.nextExpiry.IsZero() && !now.Before(c.nextExpiry) {
		c.expireOffsets(now)
		c.nextExpiry = now.Add(c.cfg.settings.retentionCheck)
	}
}

// schedule makes sure a timer fires by g's next deadline. Timers left
// behind by deadlines that moved later fire early and find nothing due.
func (c *coordinator) schedule(g *group) {
	next := g.deadline()
	if next.IsZero() || (!g.scheduled.IsZero() && !next.Before(g.scheduled)) {
		return
	}
	g.scheduled = next
	heap.Push(&c.timers, timer{at: next, group: g.id})
}

// sortedGroups lists the groups by id, for deterministic output.
func (c *coordinator) sortedGroups() []*group {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*group, len(ids))
	for i, id := range ids {
		out[i] = c.groups[id]
	}
	return out
}

// emit queues records to persist before this step's replies.
func (c *coordinator) emit(recs ...record.Record) {
	for _, rec := range recs {
		c.out.records = append(c.out.records, logRecord{Record: rec, producerID: -1})
	}
}

type timer struct {
	at    time.Time
	group string
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
