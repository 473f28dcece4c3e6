package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/testpki"
)

// certs is a CA made for one test and the files of the certificates it
// issued.
func withTLS(cert, key, ca string) func(*node.Config) {
	return func(c *node.Config) { c.TLSCert, c.TLSKey, c.TLSClientCA = cert, key, ca }
}

// produceConsume produces n records of about size bytes over opts and
// reads them back from the start, checking each.
func produceConsume(t *testing.T, addr, topic string, n, size int, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, opts...)...)
	ctx := testContext(t)
	pad := strings.Repeat("x", size)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%06d %s", i, pad))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := consumeExactly(t, addr, topic, n, opts...)
	for i, r := range got {
		if want := fmt.Sprintf("%06d %s", i, pad); string(r.Value) != want {
			t.Fatalf("record %d: %.20q..., want %.20q...", i, r.Value, want)
		}
	}
}

// TestTLSProduceConsume produces and consumes over TLS with franz-go,
// records large enough that fetches copy many segment bytes through the
// TLS layer (no sendfile there).
func TestTLSProduceConsume(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	tn := startNode(t, "", nil, withTLS(cert, key, ""))
	produceConsume(t, tn.KafkaAddr(), "tls", 2000, 1000, kgo.DialTLSConfig(c.ClientTLS(t, "", "")))

	// A plaintext client gets nowhere, and the log names it.
	cl := newClient(t, tn.KafkaAddr(), kgo.RetryTimeout(time.Second))
	if err := cl.Ping(testContext(t)); err == nil {
		t.Fatal("plaintext client served by a TLS listener")
	}
	if !strings.Contains(tn.logs.String(), "not speaking TLS to this TLS listener") {
		t.Fatalf("no log line about the plaintext client:\n%s", tn.logs.String())
	}
}

// TestMutualTLSNode requires client certificates: one from the CA is
// served, none is refused.
func TestMutualTLSNode(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "server", "localhost")
	tn := startNode(t, "", nil, withTLS(cert, key, c.File))
	cc, ck := c.Issue(t, "alice", "alice")
	produceConsume(t, tn.KafkaAddr(), "mtls", 100, 10, kgo.DialTLSConfig(c.ClientTLS(t, cc, ck)))
	if !strings.Contains(tn.logs.String(), "principal=User:alice") {
		t.Fatalf("no principal User:alice in the log:\n%s", tn.logs.String())
	}
	cl := newClient(t, tn.KafkaAddr(), kgo.DialTLSConfig(c.ClientTLS(t, "", "")), kgo.RetryTimeout(time.Second))
	if err := cl.Ping(testContext(t)); err == nil {
		t.Fatal("client without a certificate served under mTLS")
	}
}

// TestTLSCluster runs three nodes whose Kafka listeners require TLS with
// client certificates, sharing one certificate: followers fetch from
// leaders over TLS, so acks=all records reach every replica and the ISR
// stays full.
func TestTLSCluster(t *testing.T) {
	c := testpki.New(t)
	cert, key := c.Issue(t, "node", "eddy-node")
	tc := newTestCluster(t, 3, withTLS(cert, key, c.File))
	if t.Failed() {
		t.FailNow()
	}
	cc, ck := c.Issue(t, "client", "client")
	dial := kgo.DialTLSConfig(c.ClientTLS(t, cc, ck))
	adm := kadm.NewClient(newClient(t, tc.cfgs[0].KafkaAddr, dial, kgo.SeedBrokers(tc.seeds()...)))
	createTopicRF(t, adm, "tls-replicated", 3, 3, nil)
	cl := newClient(t, tc.cfgs[0].KafkaAddr, dial, kgo.SeedBrokers(tc.seeds()...), kgo.DefaultProduceTopic("tls-replicated"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := testContext(t)
	for i := range 300 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	waitFor(t, "every partition's ISR to hold all 3 replicas", func() bool {
		md, err := adm.Metadata(ctx, "tls-replicated")
		if err != nil {
			return false
		}
		for _, p := range md.Topics["tls-replicated"].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	got := consumeExactly(t, tc.cfgs[2].KafkaAddr, "tls-replicated", 300, dial, kgo.SeedBrokers(tc.seeds()...))
	if len(got) != 300 {
		t.Fatalf("consumed %d records", len(got))
	}
}
