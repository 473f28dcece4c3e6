package clienttest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/node"
)

// Node is the node EddyNode starts.
type Node struct {
	Settings map[string]string // Kafka broker settings (--set)
	Topics   map[string]int32  // created at start: name → partitions
	// Admin, "name:password", is created as the bootstrap user
	// (EDDY_BOOTSTRAP_USER); with SASL on, Topics are created as it.
	Admin string
	TLS   *TLSFiles // the listener serves TLS with TLS.ServerCert
	MTLS  bool      // and requires client certificates signed by TLS.CA
}

// EddyNode starts n in-process on a free loopback port, closed when t
// ends, and returns the address to pass to -b.
func EddyNode(t testing.TB, n Node) string {
	t.Helper()
	cfg := node.Config{
		DataDir:       t.TempDir(),
		KafkaAddr:     "127.0.0.1:0",
		NodeID:        1,
		Settings:      n.Settings,
		Logger:        slog.New(slog.DiscardHandler),
		BootstrapUser: n.Admin,
	}
	if n.TLS != nil {
		cfg.TLSCert, cfg.TLSKey = n.TLS.ServerCert, n.TLS.ServerKey
		if n.MTLS {
			cfg.TLSClientCA = n.TLS.CA
		}
	}
	nd, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting eddy: %v", err)
	}
	t.Cleanup(func() { nd.Close() })
	if len(n.Topics) > 0 {
		createTopics(t, n.admin(nd.KafkaAddr()), n.Topics)
	}
	return nd.KafkaAddr()
}

// admin is how setup connects to the node at addr: as the bootstrap user
// when SASL is on, over TLS when the node serves it.
func (n Node) admin(addr string) client.Conn {
	c := client.Conn{Brokers: []string{addr}}
	if mechs := n.Settings["sasl.enabled.mechanisms"]; n.Admin != "" && mechs != "" {
		c.User, c.Password, _ = strings.Cut(n.Admin, ":")
		// The first mechanism the node enables; the bootstrap user has
		// credentials for both SCRAM ones, and PLAIN checks those.
		c.SASLMechanism, _, _ = strings.Cut(mechs, ",")
	}
	if n.TLS != nil {
		c.TLSCA = n.TLS.CA
		if n.MTLS {
			c.TLSCert, c.TLSKey = n.TLS.ClientCert, n.TLS.ClientKey
		}
	}
	return c
}

func createTopics(t testing.TB, conn client.Conn, topics map[string]int32) {
	t.Helper()
	if err := conn.Check(); err != nil {
		t.Fatal(err)
	}
	cl, err := conn.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for name, partitions := range topics {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		res, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
		cancel()
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatalf("creating topic %s: %v", name, err)
		}
	}
}
