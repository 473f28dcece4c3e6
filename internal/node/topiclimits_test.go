package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// TestPartitionLimits checks max.broker.partitions on every way of adding
// partitions, and the cap on the partitions one request may create.
func TestPartitionLimits(t *testing.T) {
	// __consumer_offsets takes 50 of the 200.
	tn := startNode(t, "", map[string]string{"max.broker.partitions": "200"})
	adm := newAdmin(t, tn.KafkaAddr())
	ctx := testContext(t)
	cl := newClient(t, tn.KafkaAddr())

	req := kmsg.NewPtrCreateTopicsRequest()
	for _, n := range []int32{6000, 5000} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("huge-%d", n), n, 1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.PolicyViolation.Code || rt.ErrorMessage == nil || !strings.Contains(*rt.ErrorMessage, "per request") {
			t.Errorf("topic %s of a request for 11,000 partitions: code %d (%v), want POLICY_VIOLATION per request", rt.Topic, rt.ErrorCode, rt.ErrorMessage)
		}
	}

	createTopic(t, adm, "fits", 100, nil)
	over, err := adm.CreateTopic(ctx, 51, 1, nil, "over")
	if err == nil {
		err = over.Err
	}
	if !errors.Is(err, kerr.PolicyViolation) || !strings.Contains(over.ErrMessage, "max.broker.partitions") {
		t.Errorf("creating past the node's limit: %v (%q), want POLICY_VIOLATION", err, over.ErrMessage)
	}
	grow, err := adm.UpdatePartitions(ctx, 151, "fits")
	if err == nil {
		err = grow["fits"].Err
	}
	if !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("growing past the node's limit: %v, want INVALID_PARTITIONS", err)
	}
	if grow, err = adm.UpdatePartitions(ctx, 150, "fits"); err == nil {
		err = grow["fits"].Err
	}
	if err != nil {
		t.Fatalf("growing to the node's limit: %v", err)
	}

	mreq := kmsg.NewPtrMetadataRequest()
	mreq.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto-over")
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := mresp.Topics[0].ErrorCode; code != kerr.PolicyViolation.Code {
		t.Errorf("auto-creating past the node's limit: code %d, want POLICY_VIOLATION", code)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := topics.Names(); !slices.Equal(names, []string{"fits"}) {
		t.Errorf("topics after refusals: %v, want [fits]", names)
	}
}

// TestTopicCreationRollsBack makes one partition's log impossible to
// create (a file sits where its directory goes): CreateTopics and
// CreatePartitions fail cleanly and leave neither metadata nor logs.
func TestTopicCreationRollsBack(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	ctx := testContext(t)
	logs := filepath.Join(tn.dir, "logs")
	block := func(name string) string {
		p := filepath.Join(logs, name)
		must(t, os.WriteFile(p, nil, 0o644))
		return p
	}
	b1 := block("doomed-7")
	resp, err := adm.CreateTopic(ctx, 20, 1, nil, "doomed")
	if err == nil {
		err = resp.Err
	}
	if err == nil {
		t.Fatal("creating a topic whose partition 7 cannot be created succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(logs, "doomed-*")); !slices.Equal(left, []string{b1}) {
		t.Fatalf("failed creation left %v", left)
	}

	createTopic(t, adm, "grow", 2, nil)
	b2 := block("grow-5")
	grow, err := adm.UpdatePartitions(ctx, 10, "grow")
	if err == nil {
		err = grow["grow"].Err
	}
	if err == nil {
		t.Fatal("adding partitions of which one cannot be created succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(logs, "grow-*")); len(left) != 3 {
		t.Fatalf("failed CreatePartitions left %v", left)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("doomed") || len(topics["grow"].Partitions) != 2 {
		t.Fatalf("metadata after failed changes: %v", topics.Names())
	}

	must(t, os.Remove(b1))
	must(t, os.Remove(b2))
	createTopic(t, adm, "doomed", 20, nil)
	if grow, err = adm.UpdatePartitions(ctx, 10, "grow"); err == nil {
		err = grow["grow"].Err
	}
	if err != nil {
		t.Fatalf("adding partitions once possible: %v", err)
	}
}

// TestRestartRemovesPartitionsTheMetadataLacks leaves logs for partitions
// that the metadata does not record, as a crash inside CreatePartitions
// does; the next start removes them.
func TestRestartRemovesPartitionsTheMetadataLacks(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "grow", 2, nil)
	dir := tn.dir
	tn.stop(t)

	m, err := storage.Open(context.Background(), storage.Config{Dir: filepath.Join(dir, "logs"), Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	nl, err := m.CreateLogs("grow", 2, 4, storage.DefaultLogConfig())
	must(t, err)
	must(t, nl.Publish())
	must(t, m.Close())

	again := startNode(t, dir, nil)
	topics, err := newAdmin(t, again.KafkaAddr()).ListTopics(testContext(t))
	must(t, err)
	if n := len(topics["grow"].Partitions); n != 2 {
		t.Fatalf("topic has %d partitions after restart, want 2", n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "logs", "grow-*")); len(left) != 2 {
		t.Fatalf("after restart the logs are %v, want grow-0 and grow-1", left)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAutoCreationStopsAtTheRequestCap sends one Metadata request naming
// three unknown topics of 4,000 partitions each: two are created, the
// third would pass the 10,000 partitions a request may create.
func TestAutoCreationStopsAtTheRequestCap(t *testing.T) {
	tn := startNode(t, "", map[string]string{"num.partitions": "4000"})
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, name := range []string{"auto-a", "auto-b", "auto-c"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	cl := newClient(t, tn.KafkaAddr(), kgo.RequestTimeoutOverhead(4*time.Minute))
	resp, err := req.RequestWith(longContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, rt := range resp.Topics {
		codes = append(codes, rt.ErrorCode)
	}
	if want := []int16{0, 0, kerr.PolicyViolation.Code}; !slices.Equal(codes, want) {
		t.Fatalf("auto-creating 3 x 4,000 partitions in one request: codes %v, want %v", codes, want)
	}
}
