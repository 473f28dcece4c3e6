package group

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// TestCore drives the deterministic coordinator core through the scripts
// in testdata/ with a fake clock. Regenerate with -rewrite.
func TestCore(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{t: t}
		datadriven.RunTest(t, path, h.run)
	})
}

var testStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// persisted is a record in the harness's log, or a transaction marker.
type persisted struct {
	logRecord
	marker *txnEnd
}

// harness feeds a coordinator and prints what each step produced.
type harness struct {
	t      testing.TB
	c      *coordinator
	cfg    coreConfig
	now    time.Time
	nextID replyID
	uuid   int
	log    []persisted      // everything persisted, for reload
	topics map[string]int32 // what Config.Topics answers
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if h.c == nil && td.Cmd != "init" {
		h.init(td)
	}
	switch td.Cmd {
	case "init":
		h.init(td)
		return "ok"
	case "advance":
		ms, _ := strconv.Atoi(td.CmdArgs[0].Key)
		return h.advance(h.now.Add(time.Duration(ms) * time.Millisecond))
	case "cancel":
		id, _ := strconv.Atoi(strArg(td, "id", "0"))
		h.c.cancel(h.now, replyID(id))
		return h.output("", 0)
	case "reload":
		return h.reload()
	case "topics":
		h.topics = make(map[string]int32)
		for _, a := range td.CmdArgs {
			n, _ := strconv.Atoi(a.Vals[0])
			h.topics[a.Key] = int32(n)
		}
		return "ok"
	case "txn-end":
		// A marker written to the partition, as WriteTxnMarkers does.
		end := &txnEnd{producerID: int64(intArg(td, "pid", 1)), commit: strArg(td, "result", "commit") == "commit"}
		h.log = append(h.log, persisted{marker: end})
		h.c.completeTxn(h.now, end.producerID, end.commit)
		return h.output("", 0)
	case "deadline":
		d, ok := h.c.deadline()
		if !ok {
			return "none"
		}
		return fmt.Sprintf("t=%d", d.Sub(testStart).Milliseconds())
	}
	req := h.request(td)
	h.nextID++
	id := h.nextID
	h.c.handle(h.now, id, ClientInfo{ClientID: strArg(td, "client", "c"), Host: "/10.0.0.1"}, req)
	return h.output("", id)
}

// advance moves the clock to target, ticking at every deadline on the way
// as the runner's timer would.
func (h *harness) advance(target time.Time) string {
	var b strings.Builder
	for {
		d, ok := h.c.deadline()
		if !ok || d.After(target) {
			break
		}
		h.now = later(h.now, d)
		h.c.tick(h.now)
		if out := h.output("", 0); out != "nothing" {
			fmt.Fprintf(&b, "t=%d\n%s", h.elapsed(), out)
		}
	}
	h.now = target
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (h *harness) elapsed() int64 { return h.now.Sub(testStart).Milliseconds() }

func (h *harness) init(td *datadriven.TestData) {
	s := settings{
		initialDelay:    time.Duration(intArg(td, "initial-delay", 3000)) * time.Millisecond,
		minSession:      int32(intArg(td, "min-session", 6000)),
		maxSession:      int32(intArg(td, "max-session", 300000)),
		maxSize:         int(intArg(td, "max-size", 1000)),
		retention:       time.Duration(intArg(td, "retention-minutes", 60)) * time.Minute,
		retentionCheck:  time.Duration(intArg(td, "check-interval", 600000)) * time.Millisecond,
		maxMetadataSize: int(intArg(td, "max-metadata", 4096)),
	}
	s.heartbeatInterval = time.Duration(intArg(td, "heartbeat-interval", 5000)) * time.Millisecond
	s.consumerSession = time.Duration(intArg(td, "consumer-session", 45000)) * time.Millisecond
	s.consumerMaxSize = int(intArg(td, "consumer-max-size", 1000))
	s.assignors = listArg(td, "assignors", "")
	if len(s.assignors) == 0 {
		s.assignors = []string{assignorUniform, assignorRange}
	}
	h.topics = nil
	h.cfg = coreConfig{settings: s, partitionExists: func(topic string, p int32) bool {
		if h.topics != nil {
			n, ok := h.topics[topic]
			return ok && p >= 0 && p < n
		}
		return (topic == "t" || topic == "u") && p >= 0 && p < 3
	}, newUUID: func() string { h.uuid++; return strconv.Itoa(h.uuid) },
		topics:    func() map[string]int32 { return maps.Clone(h.topics) },
		topicID:   testTopicID,
		topicName: testTopicName,
	}
	h.now, h.log = testStart, nil
	h.c = newCoordinator(h.cfg)
	h.c.loaded(h.now)
}

// reload replays everything persisted into a new core, as a restart does.
func (h *harness) reload() string {
	h.c = newCoordinator(h.cfg)
	for _, rec := range h.log {
		switch {
		case rec.marker != nil:
			h.c.completeTxn(time.Time{}, rec.marker.producerID, rec.marker.commit)
		case rec.producerID >= 0:
			if !h.c.replayTxnRecord(rec.producerID, rec.Record) {
				return "not a transactional offset: " + describeRecord(rec.Record)
			}
		default:
			if err := replayRecord(h.c, rec.Key, rec.Value); err != nil {
				return err.Error()
			}
		}
	}
	h.c.loaded(h.now)
	var b strings.Builder
	for _, g := range h.c.sortedGroups() {
		if cg := g.cg; cg != nil {
			fmt.Fprintf(&b, "%s: consumer %s epoch=%d target-epoch=%d assignor=%s offsets=%d members=%d\n", g.id, cg.state(), cg.epoch,
				cg.targetEpoch, cg.assignor, len(g.offsets), len(cg.members))
			continue
		}
		fmt.Fprintf(&b, "%s: %s type=%q gen=%d offsets=%d members=%d\n", g.id, g.state, g.protocolType, g.generation, len(g.offsets), len(g.members))
	}
	if b.Len() == 0 {
		return "no groups"
	}
	return b.String()
}

// output prints the step's records and replies, and notes a request
// whose reply parked.
func (h *harness) output(head string, id replyID) string {
	out := h.c.ready()
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n")
	}
	for _, rec := range out.records {
		h.log = append(h.log, persisted{logRecord: rec})
		if rec.producerID >= 0 {
			fmt.Fprintf(&b, "persist in txn pid=%d epoch=%d: ", rec.producerID, rec.producerEpoch)
		} else {
			b.WriteString("persist ")
		}
		b.WriteString(describeRecord(rec.Record) + "\n")
	}
	answered := false
	for _, r := range out.replies {
		answered = answered || r.id == id
		fmt.Fprintf(&b, "#%d %s\n", r.id, describeResponse(r.resp))
	}
	if id != 0 && !answered {
		fmt.Fprintf(&b, "#%d parked\n", id)
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}

func (h *harness) request(td *datadriven.TestData) kmsg.Request {
	group := strArg(td, "group", "g")
	member := strArg(td, "member", "")
	gen := int32(intArg(td, "gen", -1))
	var inst *string
	if td.HasArg("instance") {
		inst = kmsg.StringPtr(strArg(td, "instance", ""))
	}
	switch td.Cmd {
	case "join":
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version = int16(intArg(td, "v", 9))
		r.Group, r.MemberID, r.InstanceID = group, member, inst
		r.SessionTimeoutMillis = int32(intArg(td, "session", 10000))
		r.RebalanceTimeoutMillis = int32(intArg(td, "rebalance", 30000))
		r.ProtocolType = strArg(td, "type", "consumer")
		md := joinMetadata(td)
		for _, p := range listArg(td, "protocols", "range") {
			jp := kmsg.NewJoinGroupRequestProtocol()
			jp.Name, jp.Metadata = p, md
			r.Protocols = append(r.Protocols, jp)
		}
		return r
	case "sync":
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = int16(intArg(td, "v", 5))
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		for _, a := range listArg(td, "assign", "") {
			m, v, _ := strings.Cut(a, ":")
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = m, []byte(v)
			r.GroupAssignment = append(r.GroupAssignment, ga)
		}
		return r
	case "heartbeat":
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version = int16(intArg(td, "v", 4))
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		return r
	case "leave":
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version = int16(intArg(td, "v", 5))
		r.Group, r.MemberID = group, member
		if r.Version >= 3 {
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID, lm.InstanceID = member, inst
			r.Members = append(r.Members, lm)
		}
		return r
	case "commit":
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = int16(intArg(td, "v", 9))
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		for _, tp := range listArg(td, "offsets", "") {
			topic, rest, _ := strings.Cut(tp, "/")
			ps, off, _ := strings.Cut(rest, "@")
			p, _ := strconv.Atoi(ps)
			o, _ := strconv.Atoi(off)
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = int32(p), int64(o), int32(intArg(td, "epoch", -1))
			if td.HasArg("meta") {
				rp.Metadata = kmsg.StringPtr(strArg(td, "meta", ""))
			}
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
		}
		return r
	case "txn-commit":
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.Version = int16(intArg(td, "v", 4))
		r.TransactionalID = strArg(td, "txn", "tx")
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		r.ProducerID, r.ProducerEpoch = int64(intArg(td, "pid", 1)), int16(intArg(td, "pepoch", 0))
		for _, tp := range listArg(td, "offsets", "") {
			topic, rest, _ := strings.Cut(tp, "/")
			ps, off, _ := strings.Cut(rest, "@")
			p, _ := strconv.Atoi(ps)
			o, _ := strconv.Atoi(off)
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = int32(p), int64(o), int32(intArg(td, "epoch", -1))
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
		}
		return r
	case "fetch":
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = int16(intArg(td, "v", 7))
		r.Group = group
		r.RequireStable = td.HasArg("stable")
		var topics []kmsg.OffsetFetchRequestTopic
		if td.HasArg("topics") {
			topics = []kmsg.OffsetFetchRequestTopic{}
		}
		for _, tp := range listArg(td, "topics", "") {
			topic, ps, _ := strings.Cut(tp, "/")
			p, _ := strconv.Atoi(ps)
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{int32(p)}
			topics = append(topics, rt)
		}
		if r.Version < 8 {
			r.Topics = topics
			return r
		}
		for _, g := range listArg(td, "groups", group) {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			if td.HasArg("member") {
				rg.MemberID, rg.MemberEpoch = kmsg.StringPtr(member), int32(intArg(td, "member-epoch", -1))
			}
			for _, t := range topics {
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = t.Topic, t.Partitions
				rg.Topics = append(rg.Topics, gt)
			}
			r.Groups = append(r.Groups, rg)
		}
		return r
	case "cg-join", "cg-hb", "cg-leave":
		return consumerHeartbeatRequest(td)
	case "cg-describe":
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = listArg(td, "groups", group)
		return r
	case "describe":
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version = int16(intArg(td, "v", 5))
		r.Groups = listArg(td, "groups", group)
		return r
	case "list":
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = 5
		r.StatesFilter, r.TypesFilter = listArg(td, "states", ""), listArg(td, "types", "")
		return r
	case "delete-groups":
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = listArg(td, "groups", group)
		return r
	case "offset-delete":
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, tp := range listArg(td, "topics", "") {
			topic, ps, _ := strings.Cut(tp, "/")
			p, _ := strconv.Atoi(ps)
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = int32(p)
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	h.t.Fatalf("unknown command %q", td.Cmd)
	return nil
}

// joinMetadata is a consumer subscription to topics=(...), or bytes of
// size=N to test limits.
func joinMetadata(td *datadriven.TestData) []byte {
	if n := intArg(td, "metadata-size", 0); n > 0 {
		return make([]byte, n)
	}
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = listArg(td, "topics", "t")
	return md.AppendTo(nil)
}

func strArg(td *datadriven.TestData, key, def string) string {
	a, ok := td.Arg(key)
	if !ok || len(a.Vals) == 0 {
		return def
	}
	return a.Vals[0]
}

func intArg(td *datadriven.TestData, key string, def int64) int64 {
	n, err := strconv.ParseInt(strArg(td, key, ""), 10, 64)
	if err != nil {
		return def
	}
	return n
}

func listArg(td *datadriven.TestData, key, def string) []string {
	a, ok := td.Arg(key)
	if !ok {
		if def == "" {
			return nil
		}
		return []string{def}
	}
	return a.Vals
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

func describeRecord(rec record.Record) string {
	var b strings.Builder
	c := &recordPrinter{b: &b}
	if err := replayRecord(c, rec.Key, rec.Value); err != nil {
		return err.Error()
	}
	return b.String()
}

// recordPrinter is a replayer that prints.
type recordPrinter struct{ b *strings.Builder }

func (p *recordPrinter) replayOffset(g string, tp topicPartition, v *kmsg.OffsetCommitValue) {
	if v == nil {
		fmt.Fprintf(p.b, "offset %s %s/%d tombstone", g, tp.topic, tp.partition)
		return
	}
	fmt.Fprintf(p.b, "offset %s %s/%d v%d offset=%d epoch=%d meta=%q committed=%d", g, tp.topic, tp.partition,
		v.Version, v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp-testStart.UnixMilli())
}

func (p *recordPrinter) replayGroup(g string, v *kmsg.GroupMetadataValue) {
	if v == nil {
		fmt.Fprintf(p.b, "group %s tombstone", g)
		return
	}
	fmt.Fprintf(p.b, "group %s v%d type=%q gen=%d protocol=%s leader=%s since=%d members=[", g, v.Version, v.ProtocolType,
		v.Generation, deref(v.Protocol), deref(v.Leader), v.CurrentStateTimestamp-testStart.UnixMilli())
	for i, m := range v.Members {
		if i > 0 {
			p.b.WriteString(" ")
		}
		fmt.Fprintf(p.b, "%s", m.MemberID)
		if m.InstanceID != nil {
			fmt.Fprintf(p.b, "(%s)", *m.InstanceID)
		}
		fmt.Fprintf(p.b, ":%q", m.Assignment)
	}
	p.b.WriteString("]")
}

var memberStateNames = [...]string{"stable", "unrevoked", "unreleased"}

func (p *recordPrinter) replayConsumer(rec consumerRecord) {
	name := consumerKindNames[rec.kind]
	who := rec.group
	if hasMember(rec.kind) {
		who += "/" + rec.member
	}
	if rec.value == nil {
		fmt.Fprintf(p.b, "%s %s tombstone", name, who)
		return
	}
	fmt.Fprintf(p.b, "%s %s", name, who)
	ids := func(ts []cgTopicPartitions) string {
		return partitionList(func(yield func(string, []int32)) {
			for _, t := range ts {
				name, _ := testTopicName(t.id)
				yield(name, t.partitions)
			}
		})
	}
	switch v := rec.value.(type) {
	case *cgMetadataValue:
		fmt.Fprintf(p.b, " epoch=%d", v.epoch)
	case *cgTopicsValue:
		var ts []string
		for _, t := range v.topics {
			ts = append(ts, fmt.Sprintf("%s:%d", t.name, t.partitions))
		}
		fmt.Fprintf(p.b, " topics=[%s]", strings.Join(ts, " "))
	case *cgMemberValue:
		if v.instanceID != nil {
			fmt.Fprintf(p.b, " instance=%s", *v.instanceID)
		}
		if v.rackID != nil {
			fmt.Fprintf(p.b, " rack=%s", *v.rackID)
		}
		fmt.Fprintf(p.b, " client=%s host=%s topics=%s", v.clientID, v.host, strings.Join(v.topicNames, ","))
		if v.regex != nil {
			fmt.Fprintf(p.b, " regex=%s", *v.regex)
		}
		if v.assignor != nil {
			fmt.Fprintf(p.b, " assignor=%s", *v.assignor)
		}
		fmt.Fprintf(p.b, " rebalance-timeout=%d", v.rebalanceTimeout)
	case *cgTargetEpochValue:
		fmt.Fprintf(p.b, " epoch=%d", v.epoch)
	case *cgTargetValue:
		fmt.Fprintf(p.b, " %s", ids(v.partitions))
	case *cgCurrentValue:
		state := strconv.Itoa(int(v.state))
		if v.state >= 0 && int(v.state) < len(memberStateNames) {
			state = memberStateNames[v.state]
		}
		fmt.Fprintf(p.b, " epoch=%d prev=%d %s assigned=%s", v.epoch, v.prevEpoch, state, ids(v.assigned))
		if len(v.revoking) > 0 {
			fmt.Fprintf(p.b, " revoking=%s", ids(v.revoking))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func describeResponse(resp kmsg.Response) string {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		s := fmt.Sprintf("join %s gen=%d member=%s leader=%s protocol=%s", errName(r.ErrorCode), r.Generation, r.MemberID, r.LeaderID, deref(r.Protocol))
		if r.SkipAssignment {
			s += " skip-assignment"
		}
		if len(r.Members) > 0 {
			var ms []string
			for _, m := range r.Members {
				ms = append(ms, m.MemberID)
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		return s
	case *kmsg.SyncGroupResponse:
		return fmt.Sprintf("sync %s assignment=%q", errName(r.ErrorCode), r.MemberAssignment)
	case *kmsg.HeartbeatResponse:
		return "heartbeat " + errName(r.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		s := "leave " + errName(r.ErrorCode)
		for _, m := range r.Members {
			s += fmt.Sprintf(" %s=%s", m.MemberID, errName(m.ErrorCode))
		}
		return s
	case *kmsg.OffsetCommitResponse:
		s := "commit"
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.TxnOffsetCommitResponse:
		s := "txn-commit"
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.OffsetFetchResponse:
		return describeFetch(r)
	case *kmsg.ConsumerGroupHeartbeatResponse:
		return describeConsumerHeartbeat(r)
	case *kmsg.ConsumerGroupDescribeResponse:
		return describeConsumerGroups(r)
	case *kmsg.DescribeGroupsResponse:
		var lines []string
		for _, g := range r.Groups {
			s := fmt.Sprintf("describe %s %s state=%s type=%q protocol=%q", g.Group, errName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol)
			for _, m := range g.Members {
				s += fmt.Sprintf("\n  %s client=%s host=%s assignment=%q", m.MemberID, m.ClientID, m.ClientHost, m.MemberAssignment)
			}
			lines = append(lines, s)
		}
		return strings.Join(lines, "\n")
	case *kmsg.ListGroupsResponse:
		s := "list " + errName(r.ErrorCode)
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s(%s,%s,%s)", g.Group, g.ProtocolType, g.GroupState, g.GroupType)
		}
		return s
	case *kmsg.DeleteGroupsResponse:
		s := "delete-groups"
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s=%s", g.Group, errName(g.ErrorCode))
		}
		return s
	case *kmsg.OffsetDeleteResponse:
		s := "offset-delete " + errName(r.ErrorCode)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	}
	return fmt.Sprintf("%T", resp)
}

func describeFetch(r *kmsg.OffsetFetchResponse) string {
	part := func(topic string, p int32, off int64, epoch int32, md *string, code int16) string {
		return fmt.Sprintf(" %s/%d=%d(epoch=%d,meta=%q,%s)", topic, p, off, epoch, deref(md), errName(code))
	}
	if r.Version >= 8 {
		var lines []string
		for _, g := range r.Groups {
			s := fmt.Sprintf("fetch %s %s", g.Group, errName(g.ErrorCode))
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					s += part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
				}
			}
			lines = append(lines, s)
		}
		return strings.Join(lines, "\n")
	}
	s := "fetch " + errName(r.ErrorCode)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			s += part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
		}
	}
	return s
}
