package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	coord "github.com/eddy-streaming/eddy/internal/coordinator"
	"github.com/eddy-streaming/eddy/internal/replica"
)

// txnEnd is the input CompleteTxn posts to a runner.
type txnEnd struct {
	producerID int64
	commit     bool
}

// loader builds one __consumer_offsets partition's cores for its runner.
type loader struct{ m *Manager }

func (ld loader) Load(ctx context.Context, l *replica.Partition, now time.Time) (coord.Core, error) {
	m := ld.m
	core := newCoordinator(coreConfig{settings: m.settings, partitionExists: m.cfg.PartitionExists,
		topicName: m.cfg.TopicName, topicID: m.cfg.TopicID, topics: m.cfg.Topics,
		groupConfig: m.cfg.GroupConfig, newUUID: randomUUID, log: m.log, rebalances: m.rebalances})
	if err := coord.Replay(ctx, l, core.replayBatch); err != nil {
		return nil, fmt.Errorf("group: load: %w", err)
	}
	core.loaded(now)
	return runnerCore{core}, nil
}

func (loader) Stop() {}

// runnerCore adapts the deterministic core to its runner.
type runnerCore struct{ c *coordinator }

func (a runnerCore) Handle(now time.Time, call *coord.Call) {
	ci, _ := call.Client.(ClientInfo)
	a.c.handle(now, replyID(call.ID), ci, call.Req)
}

func (a runnerCore) Cancel(now time.Time, id uint64) { a.c.cancel(now, replyID(id)) }

func (a runnerCore) Event(now time.Time, ev any) {
	e := ev.(txnEnd)
	a.c.completeTxn(now, e.producerID, e.commit)
}

func (a runnerCore) Tick(now time.Time)          { a.c.tick(now) }
func (a runnerCore) Deadline() (time.Time, bool) { return a.c.deadline() }
func (a runnerCore) Flushed()                    {}
func (a runnerCore) Close()                      {}

func (a runnerCore) Ready() coord.Output {
	out := a.c.ready()
	var co coord.Output
	for _, rec := range out.records {
		co.Records = append(co.Records, coord.Record{Record: rec.Record, ProducerID: rec.producerID, ProducerEpoch: rec.producerEpoch})
	}
	for _, rep := range out.replies {
		co.Replies = append(co.Replies, coord.Reply{ID: uint64(rep.id), Resp: rep.resp})
	}
	return co
}

// randomUUID is the UUID half of generated member ids.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
