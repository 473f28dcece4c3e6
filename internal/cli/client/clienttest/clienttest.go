// Package clienttest runs client subcommands in-process against a real Eddy
// node (Eddy) or, where a test needs several brokers or an older protocol,
// franz-go's in-memory kfake broker (Cluster). It is imported only by tests,
// so kfake never ends up in the eddy binary.
package clienttest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
	"github.com/eddy-streaming/eddy/internal/node"
)

// Cluster starts a kfake cluster closed when t ends and returns the address
// to pass to -b.
func Cluster(t testing.TB, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// Result is what one command run printed and returned.
type Result struct {
	Stdout string
	Stderr string
	Err    error
}

// Run executes a fresh command built by newCmd with args and stdin, bounded
// by a deadline so that a hung command fails the test instead of stalling it.
func Run(t testing.TB, newCmd func() *cobra.Command, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return RunContext(ctx, t, newCmd, stdin, args...)
}

// RunContext is Run under ctx, for commands that run until cancelled.
func RunContext(ctx context.Context, t testing.TB, newCmd func() *cobra.Command, stdin string, args ...string) Result {
	t.Helper()
	isolateProfiles(t)
	cmd := newCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(ctx)
	return Result{Stdout: out.String(), Stderr: errOut.String(), Err: err}
}

// isolateProfiles points the profile file at an empty temporary path unless
// the test chose one, so a developer's own profiles never reach a test.
func isolateProfiles(t testing.TB) {
	if os.Getenv(client.ConfigEnv) == "" {
		t.Setenv(client.ConfigEnv, filepath.Join(t.TempDir(), "profiles.yaml"))
	}
}

// Eddy starts a real single-node Eddy broker in-process on a free loopback
// port with the given Kafka broker settings, creates each topic in
// topics (name → partitions), and returns the address to pass to -b.
func Eddy(t testing.TB, settings map[string]string, topics map[string]int32) string {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		DataDir:   t.TempDir(),
		KafkaAddr: "127.0.0.1:0",
		NodeID:    1,
		Settings:  settings,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("starting eddy: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	if len(topics) > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr()))
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
	return n.KafkaAddr()
}
