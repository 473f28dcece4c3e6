// Package clienttest runs client subcommands in-process against franz-go's
// in-memory kfake broker. It is imported only by tests, so kfake never ends
// up in the eddy binary.
package clienttest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
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
