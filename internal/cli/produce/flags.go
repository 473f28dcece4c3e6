package produce

import (
	"bytes"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// flags are produce's own flags; the broker and output flags live in
// client.Options.
type flags struct {
	key         string
	keySet      bool // -k was given, even as "": an empty key is not a null key
	keyDelim    string
	headers     []string
	partition   int32
	acks        string
	compression string
	timeout     time.Duration
}

func (f *flags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&f.key, "key", "k", "", "key for every record (default: null key)")
	fs.StringVar(&f.keyDelim, "key-delim", "", "split each line at the first DELIM into key and value")
	fs.StringArrayVarP(&f.headers, "header", "H", nil, "record header key=value (repeatable)")
	fs.Int32VarP(&f.partition, "partition", "p", -1, "partition to produce to (-1: the client's partitioner)")
	fs.StringVar(&f.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	fs.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "fail a record not acknowledged within this long (0: retry forever)")
	cmd.MarkFlagsMutuallyExclusive("key", "key-delim")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { f.keySet = cmd.Flags().Changed("key") }
}

// clientOpts turns the flags into kgo producer options.
func (f *flags) clientOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch f.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		// Idempotent writes require acks=all.
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("invalid --acks %q (want all, 1 or 0)", f.acks)
	}
	codec, err := client.Compression(f.compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if f.timeout < 0 {
		return nil, fmt.Errorf("invalid --timeout %v", f.timeout)
	}
	if f.timeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(f.timeout))
	}
	if f.partition < -1 {
		return nil, fmt.Errorf("invalid --partition %d", f.partition)
	}
	if f.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts, nil
}

func (f *flags) recordHeaders() ([]kgo.RecordHeader, error) {
	kvs, err := client.ParseKVs("header", f.headers)
	if err != nil {
		return nil, err
	}
	hs := make([]kgo.RecordHeader, 0, len(kvs))
	for _, kv := range kvs {
		hs = append(hs, kgo.RecordHeader{Key: kv.Key, Value: []byte(kv.Value)})
	}
	return hs, nil
}

// newRecord builds the record for one input line (without its newline).
// headers is shared by every record; kgo only reads it.
func (f *flags) newRecord(topic string, line []byte, headers []kgo.RecordHeader) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: line, Headers: headers}
	if f.partition >= 0 {
		r.Partition = f.partition
	}
	switch {
	case f.keySet:
		r.Key = []byte(f.key)
	case f.keyDelim != "":
		if k, v, ok := bytes.Cut(line, []byte(f.keyDelim)); ok {
			r.Key, r.Value = k, v
		}
	}
	return r
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}
