// Package consume holds the eddy consume command, which prints records of
// one topic read by direct partition consumption (no consumer group, no
// committed offsets). The command owns one kgo client for its run and
// polls it from a single goroutine.
package consume

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

type flags struct {
	offset      string
	num         int
	partitions  []int32
	printFormat string
}

// Command returns the eddy consume command.
func Command() *cobra.Command {
	var (
		opts client.Options
		f    flags
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Print records of TOPIC, from every partition or the ones given with -p,
until -n records were printed or the command is interrupted (Ctrl-C,
SIGTERM). No consumer group is joined and no offsets are committed.

-o/--offset says where every partition starts:
  start        the oldest record still in the log (default)
  end          only records produced from now on
  N            offset N (out of range: the nearest end of the log)
  -N           N records before the end of each partition
  @MS          the first record at or after Unix time MS in milliseconds

-f/--print-format is a template like kcat's:
` + verbHelp() + `  \n \t \r \\  newline, tab, carriage return, backslash
The default is '%v\n'. --format json instead prints one JSON object per
line with topic, partition, offset, timestamp (ms), key, value (null when
null) and headers.

Examples:
  # Everything in the topic, values only, until Ctrl-C
  eddy consume orders

  # The first 10 records of partition 0 and 2, with their coordinates
  eddy consume orders -p 0 -p 2 -n 10 -f '%p/%o %k=%v\n'

  # Wait for the next record and print it as JSON
  eddy consume orders -o end -n 1 --format json

  # Records since a point in time, with headers and timestamps
  eddy consume orders -o @1735689600000 -f '%T\t%h\t%v\n'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd, &opts, &f, args[0])
		},
	}
	opts.Register(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&f.offset, "offset", "o", "start", "where to start: start, end, N, -N or @TIMESTAMP_MS")
	fs.IntVarP(&f.num, "num", "n", 0, "stop after this many records (0: run until interrupted)")
	fs.Int32SliceVarP(&f.partitions, "partition", "p", nil, "partition to consume (repeatable; default all)")
	fs.StringVarP(&f.printFormat, "print-format", "f", `%v\n`, "output template (see above)")
	return cmd
}

func verbHelp() string {
	var b strings.Builder
	for _, v := range verbs {
		fmt.Fprintf(&b, "  %%%c           %s\n", v.verb, v.what)
	}
	return b.String()
}

func run(cmd *cobra.Command, opts *client.Options, f *flags, topic string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	if opts.JSONOutput() && cmd.Flags().Changed("print-format") {
		return errors.New("--print-format and --format json cannot be used together")
	}
	if f.num < 0 {
		return fmt.Errorf("invalid --num %d", f.num)
	}
	start, err := parseOffset(f.offset)
	if err != nil {
		return err
	}
	tmpl, err := parseTemplate(f.printFormat)
	if err != nil {
		return err
	}
	ctx, stop := client.SignalContext(cmd.Context())
	defer stop()

	cl, err := opts.NewClient(consumeOpts(topic, f.partitions, start)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkTopic(ctx, kadm.NewClient(cl), topic, f.partitions); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p := newPrinter(cmd.OutOrStdout(), opts.JSONOutput(), tmpl)
	return consume(ctx, cl, p, cmd.ErrOrStderr(), f.num)
}

// consumeOpts consumes whole topics when no partitions are named, so that
// partitions added while consuming are picked up too.
func consumeOpts(topic string, partitions []int32, start kgo.Offset) []kgo.Opt {
	if len(partitions) == 0 {
		return []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(start)}
	}
	ps := make(map[int32]kgo.Offset, len(partitions))
	for _, p := range partitions {
		ps[p] = start
	}
	return []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: ps})}
}

// checkTopic fails early for a missing topic or partition, which kgo would
// otherwise wait for forever.
func checkTopic(ctx context.Context, adm *kadm.Client, topic string, partitions []int32) error {
	topics, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return fmt.Errorf("consuming %q: %w", topic, err)
	}
	t, ok := topics[topic]
	switch {
	case !ok:
		return fmt.Errorf("consuming %q: topic missing from the broker's response", topic)
	case t.Err != nil:
		return fmt.Errorf("consuming %q: %w", topic, t.Err)
	}
	for _, p := range partitions {
		if _, ok := t.Partitions[p]; !ok {
			return fmt.Errorf("consuming %q: partition %d does not exist (the topic has %d)", topic, p, len(t.Partitions))
		}
	}
	return nil
}

// consume polls until num records were printed (num == 0: forever) or ctx
// is done. Being interrupted is the normal way to stop, so it is not an
// error.
func consume(ctx context.Context, cl *kgo.Client, p *printer, stderr io.Writer, num int) error {
	printed := 0
	for num == 0 || printed < num {
		limit := -1
		if num > 0 {
			limit = num - printed
		}
		fetches := cl.PollRecords(ctx, limit)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return p.flush()
		}
		if err := fetchErrors(fetches, stderr); err != nil {
			return errors.Join(p.flush(), err)
		}
		for it := fetches.RecordIter(); !it.Done(); printed++ {
			if err := p.print(it.Next()); err != nil {
				return err
			}
		}
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

// fetchErrors returns the first fatal error in fetches. Data loss is
// reported on stderr and consumption goes on from where kgo resumed, as a
// tool for looking at a topic should.
func fetchErrors(fetches kgo.Fetches, stderr io.Writer) error {
	for _, fe := range fetches.Errors() {
		var loss *kgo.ErrDataLoss
		switch {
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
			continue
		case errors.As(fe.Err, &loss):
			fmt.Fprintf(stderr, "warning: %v\n", fe.Err)
			continue
		}
		if fe.Partition < 0 {
			return fmt.Errorf("consuming %q: %w", fe.Topic, fe.Err)
		}
		return fmt.Errorf("consuming %q partition %d: %w", fe.Topic, fe.Partition, fe.Err)
	}
	return nil
}

// printer writes records to a buffered w, as a template or as JSON lines.
type printer struct {
	w    *bufio.Writer
	json bool
	tmpl template
	buf  []byte
}

func newPrinter(w io.Writer, asJSON bool, tmpl template) *printer {
	return &printer{w: bufio.NewWriter(w), json: asJSON, tmpl: tmpl}
}

func (p *printer) print(r *kgo.Record) error {
	if p.json {
		b, err := json.Marshal(newJSONRecord(r))
		if err != nil {
			return err
		}
		p.buf = append(append(p.buf[:0], b...), '\n')
	} else {
		p.buf = p.tmpl.appendRecord(p.buf[:0], r)
	}
	_, err := p.w.Write(p.buf)
	return err
}

func (p *printer) flush() error { return p.w.Flush() }

// jsonRecord is one line of --format json output. Key and value are
// strings (invalid UTF-8 is replaced by U+FFFD) and null when the record's
// are.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func newJSONRecord(r *kgo.Record) jsonRecord {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Key:       nullable(r.Key),
		Value:     nullable(r.Value),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, jsonHeader{Key: h.Key, Value: string(h.Value)})
	}
	return j
}

func nullable(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
