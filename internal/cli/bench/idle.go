package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// idleConfig is one W5 run.
type idleConfig struct {
	binary  string
	settle  time.Duration // from exec to the RSS reading
	timeout time.Duration // for the first Metadata
}

// idleResult is what bench idle prints.
type idleResult struct {
	Bench    string  `json:"bench"`
	Binary   string  `json:"binary"`
	StartMs  float64 `json:"start_ms"`
	RSSBytes int64   `json:"rss_bytes"`
	RSSMB    float64 `json:"rss_mb"`
	SettleMs float64 `json:"rss_after_ms"`
}

func (r idleResult) line() string {
	return fmt.Sprintf("idle %s: start %.1f ms (exec to first Metadata)  RSS %.1f MB after %.0f ms",
		r.Binary, r.StartMs, r.RSSMB, r.SettleMs)
}

func idleCommand() *cobra.Command {
	cfg := idleConfig{settle: 2 * time.Second, timeout: 10 * time.Second}
	var format string
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "Start a broker binary and measure its start time and idle memory (W5)",
		Long: `Start a broker binary and measure its start time and idle memory (W5).

Runs "BINARY serve --data-dir TMP --kafka-addr 127.0.0.1:P1
--http-addr 127.0.0.1:P2" with a fresh temporary data directory and two
free ports, times exec to the first successful Metadata response, reads
its resident memory (VmRSS in /proc/PID/status) --settle after exec, then
stops it with SIGTERM (SIGKILL if it has not exited 10 s later) and
removes the data directory. Linux only.

Examples:
  eddy bench idle --binary ./eddy
  eddy bench idle --binary ./eddy --settle 5s --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			r, err := runIdle(ctx, cfg)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, r)
		},
	}
	cmd.Flags().StringVar(&cfg.binary, "binary", "", "path of the eddy binary to start (required)")
	cmd.Flags().DurationVar(&cfg.settle, "settle", cfg.settle, "time from exec to the RSS reading")
	cmd.Flags().DurationVar(&cfg.timeout, "timeout", cfg.timeout, "how long to wait for the first Metadata response")
	cmd.MarkFlagRequired("binary")
	registerFormat(cmd, &format)
	return cmd
}

// runIdle starts the binary, measures it and stops it.
func runIdle(ctx context.Context, cfg idleConfig) (idleResult, error) {
	dir, err := os.MkdirTemp("", "eddy-bench-idle-*")
	if err != nil {
		return idleResult{}, err
	}
	defer os.RemoveAll(dir)
	kafkaAddr, httpAddr := freeAddr(), freeAddr()
	if kafkaAddr == "" || httpAddr == "" {
		return idleResult{}, fmt.Errorf("bench idle: no free loopback port")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(cfg.binary, "serve", "--data-dir", dir, "--kafka-addr", kafkaAddr, "--http-addr", httpAddr)
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return idleResult{}, fmt.Errorf("bench idle: %w", err)
	}
	w := waitFor(cmd)
	r, err := measureIdle(ctx, cfg, cmd.Process.Pid, kafkaAddr, start, w.done)
	if stopErr := w.stop(cmd.Process); err == nil {
		err = stopErr
	}
	if err != nil {
		return idleResult{}, fmt.Errorf("bench idle: %w\n%s", err, tail(stderr.Bytes(), 2048))
	}
	return r, nil
}

// measureIdle waits for the first Metadata answer, then for the settle time,
// then reads the RSS.
func measureIdle(ctx context.Context, cfg idleConfig, pid int, addr string, start time.Time, exited <-chan struct{}) (idleResult, error) {
	r := idleResult{Bench: "idle", Binary: cfg.binary, SettleMs: ms(cfg.settle)}
	ready, err := firstMetadata(ctx, addr, start.Add(cfg.timeout), exited)
	if err != nil {
		return r, err
	}
	r.StartMs = ms(ready.Sub(start))
	sleep(ctx, time.Until(start.Add(cfg.settle)))
	if r.RSSBytes, err = readRSS(pid); err != nil {
		return r, err
	}
	r.RSSMB = float64(r.RSSBytes) / megabyte
	return r, nil
}

// waiter reaps a started command; done closes once it has exited.
type waiter struct {
	done chan struct{}
	err  error // set before done closes
}

func waitFor(cmd *exec.Cmd) *waiter {
	w := &waiter{done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		close(w.done)
	}()
	return w
}

// stop sends SIGTERM, then SIGKILL if the process outlives the grace
// period, and returns once it has been reaped.
func (w *waiter) stop(p *os.Process) error {
	p.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-w.done:
		return nil
	case <-time.After(10 * time.Second):
		p.Kill()
		<-w.done
		return fmt.Errorf("did not exit within 10s of SIGTERM")
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, or "" if none could be had.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(b []byte, n int) []byte {
	return b[max(0, len(b)-n):]
}
