package group_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/cli/client/clienttest"
	"github.com/eddy-streaming/eddy/internal/cli/group"
)

const (
	topic        = "orders"
	perPartition = 10
	// baseMs is the timestamp of offset 0 in every partition; offset i is
	// produced at baseMs + i seconds, so @TIMESTAMP seeks land exactly.
	baseMs = int64(1_700_000_000_000)
)

// step is one command of a scripted session against one broker. Steps run
// in order and depend on each other, like a user at a shell.
type step struct {
	name    string
	args    []string
	want    []string // substrings of stdout
	notWant []string // substrings that must not be in stdout
	wantErr string   // substring of the error; "" means success
	check   func(t *testing.T, stdout string)
}

func runSteps(t *testing.T, addr string, steps []step) {
	t.Helper()
	for _, s := range steps {
		args := append(append([]string(nil), s.args...), "-b", addr)
		res := clienttest.Run(t, group.Command, "", args...)
		switch {
		case s.wantErr == "" && res.Err != nil:
			t.Fatalf("%s: unexpected error: %v\nstdout:\n%s", s.name, res.Err, res.Stdout)
		case s.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), s.wantErr)):
			t.Fatalf("%s: error = %v, want one containing %q", s.name, res.Err, s.wantErr)
		}
		for _, w := range s.want {
			if !strings.Contains(res.Stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, res.Stdout)
			}
		}
		for _, w := range s.notWant {
			if strings.Contains(res.Stdout, w) {
				t.Errorf("%s: stdout has %q:\n%s", s.name, w, res.Stdout)
			}
		}
		if s.check != nil {
			s.check(t, res.Stdout)
		}
	}
}

func TestGroupFlow(t *testing.T) {
	addr := clienttest.Eddy(t, map[string]string{"group.initial.rebalance.delay.ms": "0"}, map[string]int32{topic: 2})
	produce(t, addr)
	consumer := startConsumer(t, addr, map[int32]int64{0: 7, 1: 3})
	commitAdmin(t, addr, "batch", 0, 2, "by-test")

	runSteps(t, addr, activeSteps())
	consumer.Close() // leaves the group, which becomes Empty
	waitForState(t, addr, "app", "Empty")
	runSteps(t, addr, seekSteps())
	runSteps(t, addr, deleteSteps())
}

// activeSteps run while the "app" consumer is in the group: it committed
// 7 of partition 0 and 3 of partition 1, so it lags 3 + 7.
func activeSteps() []step {
	return []step{
		{name: "list", args: []string{"list"},
			want: []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR", "app", "Stable", "consumer", "batch", "Empty"}},
		{name: "list stable, any case", args: []string{"list", "--state", "stable"},
			want: []string{"app"}, notWant: []string{"batch"}},
		{name: "list empty json", args: []string{"list", "--state", "EMPTY", "--format", "json"},
			check: func(t *testing.T, out string) {
				var got []struct{ Group, State string }
				decode(t, out, &got)
				if len(got) != 1 || got[0].Group != "batch" || got[0].State != "Empty" {
					t.Errorf("list --state EMPTY = %+v", got)
				}
			}},
		{name: "list bad state", args: []string{"list", "--state", "Sleeping"}, wantErr: `unknown --state "Sleeping"`},
		{name: "describe text", args: []string{"describe", "app"},
			want: []string{"SUMMARY", "MEMBERS", "OFFSETS", "Stable", "consumer", "cooperative-sticky",
				"test-consumer", "orders[0,1]", "TOTAL-LAG      10", "CURRENT-OFFSET", "LOG-END-OFFSET"}},
		{name: "describe active", args: []string{"describe", "app", "--format", "json"},
			check: checkDescribe("Stable", 1, []int64{7, 3}, true)},
		{name: "describe admin-committed text", args: []string{"describe", "batch"},
			want: []string{"orders  1          -               0                 10              10   -          -"}},
		{name: "describe admin-committed", args: []string{"describe", "batch", "--format", "json"},
			check: func(t *testing.T, out string) {
				// Partition 1 has no commit: it shows -1 and, like kadm's lag
				// helpers, lags by the whole log.
				d := decodeDescribed(t, out)
				if d.TotalLag != 8+10 || len(d.Offsets) != 2 || len(d.Members) != 0 ||
					d.Offsets[0].Committed != 2 || d.Offsets[0].Lag != 8 || d.Offsets[0].Metadata != "by-test" ||
					d.Offsets[1].Committed != -1 || d.Offsets[1].Lag != 10 || d.Offsets[1].Metadata != "" {
					t.Errorf("describe batch = %+v", d)
				}
			}},
		{name: "describe missing", args: []string{"describe", "nope"}, wantErr: `describing group "nope": GROUP_ID_NOT_FOUND`},
		{name: "seek refused", args: []string{"seek", "app", "--to", "start"},
			wantErr: `seeking group "app": group: consumers are still running: it is Stable with 1 member(s)`},
		{name: "delete refused", args: []string{"delete", "app"}, wantErr: `deleting group "app": NON_EMPTY_GROUP`},
	}
}

// seekSteps run once "app" is Empty; each seek is checked by describing
// the group afterwards, since lag is what users look at.
func seekSteps() []step {
	return []step{
		{name: "describe empty", args: []string{"describe", "app", "--format", "json"},
			check: checkDescribe("Empty", 0, []int64{7, 3}, true)},
		{name: "seek start dry run", args: []string{"seek", "app", "--to", "start", "--dry-run"},
			want: []string{"OLD-OFFSET", "NEW-OFFSET", "orders  0          7           →  0           dry run", "orders  1          3           →  0"}},
		{name: "after dry run", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{7, 3}, true)},
		{name: "seek start", args: []string{"seek", "app", "--to", "start"}, want: []string{"committed"}, notWant: []string{"dry run"}},
		{name: "after start", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{0, 0}, false)},
		{name: "seek end", args: []string{"seek", "app", "--to", "end"}},
		{name: "after end", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{10, 10}, false)},
		{name: "seek 5", args: []string{"seek", "app", "--to", "5", "--format", "json"}, check: checkMoves([][3]int64{{0, 10, 5}, {1, 10, 5}})},
		{name: "after 5", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{5, 5}, false)},
		{name: "seek timestamp", args: []string{"seek", "app", "--to", "@" + strconv.FormatInt(baseMs+7000, 10)}},
		{name: "after timestamp", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{7, 7}, false)},
		{name: "seek timestamp between records", args: []string{"seek", "app", "--to", "@" + strconv.FormatInt(baseMs+2500, 10)}},
		{name: "after between", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{3, 3}, false)},
		{name: "seek future timestamp", args: []string{"seek", "app", "--to", "@" + strconv.FormatInt(baseMs+1e9, 10)}},
		{name: "after future", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{10, 10}, false)},
		{name: "seek one partition", args: []string{"seek", "app", "--to", "2", "-t", topic, "-p", "1"}},
		{name: "after one partition", args: []string{"describe", "app", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{10, 2}, false)},
		{name: "seek past end clamps", args: []string{"seek", "app", "--to", "999", "--format", "json"}, check: checkMoves([][3]int64{{0, 10, 10}, {1, 2, 10}})},
		{name: "seek missing partition", args: []string{"seek", "app", "--to", "0", "-p", "5"}, wantErr: `topic "orders" has no partition 5`},
		{name: "seek missing topic", args: []string{"seek", "app", "--to", "0", "-t", "nope"}, wantErr: `topic "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{name: "seek bad target", args: []string{"seek", "app", "--to", "-3"}, wantErr: `invalid --to "-3"`},
		{name: "seek no target", args: []string{"seek", "app"}, wantErr: `required flag(s) "to" not set`},
		{name: "seek new group, nothing committed", args: []string{"seek", "fresh", "--to", "start"}, wantErr: "nothing committed to seek"},
		{name: "seek new group", args: []string{"seek", "fresh", "--to", "4", "-t", topic, "--format", "json"}, check: checkMoves([][3]int64{{0, -1, 4}, {1, -1, 4}})},
		{name: "after new group", args: []string{"describe", "fresh", "--format", "json"}, check: checkDescribe("Empty", 0, []int64{4, 4}, false)},
	}
}

func deleteSteps() []step {
	return []step{
		{name: "delete", args: []string{"delete", "app", "batch", "fresh", "app"}, want: []string{"app", "batch", "fresh", "deleted"}},
		{name: "delete again", args: []string{"delete", "app", "--format", "json"}, wantErr: `deleting group "app": GROUP_ID_NOT_FOUND`,
			want: []string{`"status": "failed"`}},
		{name: "list after delete", args: []string{"list"}, notWant: []string{"app", "batch", "fresh"}},
	}
}

// described mirrors the JSON of describe, as a script would read it.
type described struct {
	Group    string
	State    string
	TotalLag int64 `json:"total_lag"`
	Members  []struct {
		MemberID string `json:"member_id"`
		ClientID string `json:"client_id"`
		Assigned []struct {
			Topic      string
			Partitions []int32
		}
	}
	Offsets []struct {
		Topic        string
		Partition    int32
		Committed    int64 `json:"committed_offset"`
		LogEndOffset int64 `json:"log_end_offset"`
		Lag          int64
		MemberID     string `json:"member_id"`
		Metadata     string
		Error        string
	}
}

func decodeDescribed(t *testing.T, out string) described {
	t.Helper()
	var ds []described
	decode(t, out, &ds)
	if len(ds) != 1 {
		t.Fatalf("describe returned %d groups, want 1:\n%s", len(ds), out)
	}
	return ds[0]
}

// checkDescribe checks state, member count and, per partition of orders,
// the committed offset and a lag of exactly produced minus committed.
// kgo commits the member ID as metadata; seek commits none, so fromKgo says
// which of the two to expect.
func checkDescribe(state string, members int, committed []int64, fromKgo bool) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		t.Helper()
		d := decodeDescribed(t, out)
		if d.State != state || len(d.Members) != members || len(d.Offsets) != len(committed) {
			t.Fatalf("describe = %+v, want state %s, %d members, %d partitions", d, state, members, len(committed))
		}
		var total int64
		for i, o := range d.Offsets {
			lag := perPartition - committed[i]
			total += lag
			if o.Topic != topic || o.Partition != int32(i) || o.Committed != committed[i] || o.LogEndOffset != perPartition ||
				o.Lag != lag || strings.HasPrefix(o.Metadata, "test-consumer-") != fromKgo || o.Error != "" || (members > 0) != (o.MemberID != "") {
				t.Errorf("offsets[%d] = %+v, want committed %d, lag %d", i, o, committed[i], lag)
			}
		}
		if d.TotalLag != total {
			t.Errorf("total lag = %d, want %d", d.TotalLag, total)
		}
		if members > 0 {
			m := d.Members[0]
			if m.ClientID != "test-consumer" || len(m.Assigned) != 1 || m.Assigned[0].Topic != topic || len(m.Assigned[0].Partitions) != 2 {
				t.Errorf("member = %+v", m)
			}
		}
	}
}

// checkMoves checks seek's JSON: rows of partition, old and new offset.
func checkMoves(want [][3]int64) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		t.Helper()
		var got []struct {
			Partition int32
			Old       int64 `json:"old_offset"`
			New       int64 `json:"new_offset"`
			Error     string
		}
		decode(t, out, &got)
		if len(got) != len(want) {
			t.Fatalf("seek moves = %+v, want %v", got, want)
		}
		for i, w := range want {
			if g := got[i]; int64(g.Partition) != w[0] || g.Old != w[1] || g.New != w[2] || g.Error != "" {
				t.Errorf("move %d = %+v, want partition %d %d → %d", i, g, w[0], w[1], w[2])
			}
		}
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// produce writes perPartition records to each partition of orders, offset
// i stamped baseMs + i seconds.
func produce(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range int64(perPartition) {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.FormatInt(i, 10)),
				Timestamp: time.UnixMilli(baseMs + i*1000)})
		}
	}
	if err := cl.ProduceSync(testContext(t), rs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// startConsumer joins group "app", reads every record, then commits the
// given offsets as the group's member would. The caller closes it.
func startConsumer(t *testing.T, addr string, commit map[int32]int64) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("test-consumer"), kgo.ConsumerGroup("app"),
		kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := testContext(t)
	for seen := 0; seen < 2*perPartition; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", seen, 2*perPartition, err)
		}
		seen += fs.NumRecords()
	}
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range commit {
		offsets[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						t.Errorf("committing %s/%d: code %d", rt.Topic, rp.Partition, rp.ErrorCode)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("committing: %v", commitErr)
	}
	return cl
}

// commitAdmin commits one offset with metadata from outside any group
// membership, as tools do.
func commitAdmin(t *testing.T, addr, g string, p int32, at int64, metadata string) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1, Metadata: metadata})
	if err := adm.CommitAllOffsets(testContext(t), g, offsets); err != nil {
		t.Fatalf("committing to %s: %v", g, err)
	}
}

// waitForState polls until group g reaches state, failing at a deadline.
func waitForState(t *testing.T, addr, g, state string) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := testContext(t)
	for {
		ds, err := adm.DescribeGroups(ctx, g)
		if err == nil && ds[g].State == state {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never reached %s (last: %+v, %v)", g, state, ds[g], err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
