// Package produce holds the eddy produce command, which turns lines of
// standard input into records. The command owns one kgo client for its
// run; delivery callbacks run on kgo's goroutines and only touch the
// mutex-guarded tally.
package produce

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// interruptFlush bounds how long records already read are given to reach
// the broker after SIGINT/SIGTERM, so that an unreachable broker cannot
// make the command hang after the user asked it to stop.
const interruptFlush = 5 * time.Second

// Command returns the eddy produce command.
func Command() *cobra.Command {
	var (
		opts client.Options
		f    flags
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read line by line from standard input",
		Long: `Produce one record per line of standard input to TOPIC.

The trailing newline (and a carriage return before it) is not part of the
value. With --key-delim each line is split at the first delimiter into key
and value; a line without the delimiter is produced with a null key and the
whole line as value. Records go to the partition chosen by the client's
default partitioner (sticky for null keys, hashed by key otherwise) unless
-p/--partition is given.

The number of records produced is printed on standard error when input ends
(or on SIGINT/SIGTERM, after delivering what was already read); with
--format json the summary is a JSON object on standard output instead. The
command fails if any record could not be produced.

Examples:
  # Type records, end with Ctrl-D
  eddy produce orders

  # One record with a fixed key and two headers
  echo '{"id":1}' | eddy produce orders -k customer-7 -H source=web -H trace=abc

  # key:value lines, gzip-compressed, waiting only for the leader
  printf 'k1:v1\nk2:v2\n' | eddy produce orders --key-delim : --compression gzip --acks 1

  # Replay a file into partition 2 of a remote cluster
  eddy produce orders -p 2 -b kafka-1:9092 < orders.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd, &opts, &f, args[0])
		},
	}
	opts.Register(cmd)
	f.register(cmd)
	return cmd
}

// tally counts delivery results; kgo calls back from its own goroutines.
type tally struct {
	mu struct {
		sync.Mutex
		produced int
		failed   int
		firstErr error
	}
}

func (t *tally) record(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.mu.produced++
		return
	}
	t.mu.failed++
	if t.mu.firstErr == nil {
		t.mu.firstErr = err
	}
}

// summary is what produce reports when it is done.
type summary struct {
	Topic    string `json:"topic"`
	Produced int    `json:"produced"`
	Failed   int    `json:"failed"`
	Error    string `json:"error,omitempty"`
}

func run(cmd *cobra.Command, opts *client.Options, f *flags, topic string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	kopts, err := f.clientOpts()
	if err != nil {
		return err
	}
	headers, err := f.recordHeaders()
	if err != nil {
		return err
	}
	cl, err := opts.NewClient(kopts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx, stop := client.SignalContext(cmd.Context())
	defer stop()
	var t tally
	readErr := produceLines(ctx, cl, cmd.InOrStdin(), &t, func(line []byte) *kgo.Record {
		return f.newRecord(topic, line, headers)
	})
	flushCtx := ctx
	if ctx.Err() != nil {
		// Interrupted while reading: what was read still gets a bounded
		// chance to land. Otherwise an interrupt while flushing gives up.
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), interruptFlush)
		defer cancel()
	}
	if err := cl.Flush(flushCtx); err != nil {
		// Close fails whatever is still buffered, through the callbacks,
		// before it returns.
		cl.Close()
	}
	return report(cmd, opts, topic, &t, readErr)
}

// produceLines hands every line of in to cl until in ends or ctx is done.
func produceLines(ctx context.Context, cl *kgo.Client, in io.Reader, t *tally, newRecord func([]byte) *kgo.Record) error {
	lines, readErr := readLines(in)
	// Records are produced under a context that outlives an interrupt: a
	// line that was read should still be delivered (bounded by the flush
	// timeout), not failed with context.Canceled.
	pctx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return <-readErr
			}
			cl.Produce(pctx, newRecord(line), func(_ *kgo.Record, err error) { t.record(err) })
		}
	}
}

// readLines reads in on a goroutine so that an interrupt is noticed while a
// terminal read is blocked. That goroutine ends at end of input; after an
// interrupt it may stay blocked in Read until the process exits, which is
// unavoidable for a read that cannot be cancelled, and harmless because
// the command is about to return.
func readLines(in io.Reader) (<-chan []byte, <-chan error) {
	lines := make(chan []byte, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				lines <- trimEOL(line)
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	return lines, errc
}

func report(cmd *cobra.Command, opts *client.Options, topic string, t *tally, readErr error) error {
	t.mu.Lock()
	s := summary{Topic: topic, Produced: t.mu.produced, Failed: t.mu.failed}
	firstErr := t.mu.firstErr
	t.mu.Unlock()

	var err error
	switch {
	case readErr != nil:
		err = fmt.Errorf("reading standard input: %w", readErr)
	case firstErr != nil:
		err = fmt.Errorf("producing to %q: %d of %d records failed, first error: %w", topic, s.Failed, s.Failed+s.Produced, firstErr)
	}
	if err != nil {
		s.Error = err.Error()
	}
	if opts.JSONOutput() {
		if jerr := client.JSON(cmd.OutOrStdout(), s); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "produced %d %s to %q\n", s.Produced, plural(s.Produced, "record"), topic)
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
