package node_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/eddy-streaming/eddy/internal/node"
)

// testNode is an in-process Eddy node on a free loopback port.
type testNode struct {
	*node.Node
	dir  string
	logs *syncBuffer
}

// syncBuffer collects a node's log, printed only when the test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode starts a node with its data in dir (a new temp dir if empty).
func startNode(t *testing.T, dir string, settings map[string]string, opts ...func(*node.Config)) *testNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	tn := &testNode{dir: dir, logs: &syncBuffer{}}
	cfg := node.Config{
		DataDir:   dir,
		KafkaAddr: "127.0.0.1:0",
		NodeID:    1,
		Settings:  settings,
		Logger:    slog.New(slog.NewTextHandler(tn.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	tn.Node = n
	t.Cleanup(func() {
		tn.stop(t)
		if t.Failed() {
			t.Logf("node log:\n%s", tn.logs.String())
		}
	})
	return tn
}

// stop closes the node once; later calls do nothing.
func (tn *testNode) stop(t *testing.T) {
	if tn.Node == nil {
		return
	}
	if err := tn.Node.Close(); err != nil {
		t.Errorf("closing node: %v", err)
	}
	tn.Node = nil
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(15 * time.Second)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	createTopicRF(t, adm, name, partitions, 1, configs)
}

// createTopicRF is createTopic with rf replicas of each partition.
func createTopicRF(t *testing.T, adm *kadm.Client, name string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(testContext(t), partitions, rf, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
}

// consumeAll reads n records from the start of topic's partitions.
func consumeAll(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	all := append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, addr, all...)
	ctx := testContext(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// consumeExactly consumes n records of topic from the start, then keeps
// polling a second more and fails on any record past the n-th: duplicates
// or records that should not be visible.
func consumeExactly(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	all := append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, addr, all...)
	ctx := testContext(t)
	var out []*kgo.Record
	settle := time.Time{}
	for settle.IsZero() || time.Now().Before(settle) {
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
		if len(out) >= n && settle.IsZero() {
			settle = time.Now().Add(time.Second)
		}
	}
	if len(out) != n {
		t.Errorf("consumed %d records of %s, want exactly %d", len(out), topic, n)
	}
	return out
}

func ptr(s string) *string { return &s }

// namedTopicsClient caps Produce at v12, the last version that names topics
// (v13 uses topic IDs), for tests that build produce requests by hand.
func namedTopicsClient(t *testing.T, addr string) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	return newClient(t, addr, kgo.MaxVersions(v))
}
