// Package client holds what every client subcommand shares: the broker
// flags, the franz-go clients built from them, and the table/JSON printers.
package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are the connection and output flags shared by client commands.
type Options struct {
	Brokers []string
	Format  string
}

// Register adds -b/--brokers and --format to cmd's persistent flags.
func (o *Options) Register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringSliceVarP(&o.Brokers, "brokers", "b", []string{"127.0.0.1:9092"}, "comma-separated seed brokers")
	cmd.PersistentFlags().StringVar(&o.Format, "format", "text", "output format: text or json")
}

// Validate rejects unknown output formats before anything connects.
func (o *Options) Validate() error {
	switch o.Format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("unknown --format %q (want text or json)", o.Format)
}

// NewClient builds a kgo client seeded with the configured brokers.
func (o *Options) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("creating client for %s: %w", strings.Join(o.Brokers, ","), err)
	}
	return cl, nil
}

// NewAdmin builds an admin client; close it with Close on the returned admin.
func (o *Options) NewAdmin() (*kadm.Client, error) {
	cl, err := o.NewClient()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// Admin validates the flags and builds an admin client: what every admin
// command does first. Close the returned client when done.
func (o *Options) Admin() (*kadm.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o.NewAdmin()
}

// Compression maps a --compression flag value to franz-go's codec.
func Compression(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("invalid --compression %q (want none, gzip, snappy, lz4 or zstd)", name)
}

// JSON writes v as one indented JSON document.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table writes a header row and rows aligned in columns.
func Table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// Section prints a heading underlined with '='.
func Section(w io.Writer, name string) {
	fmt.Fprintf(w, "%s\n%s\n", name, strings.Repeat("=", len(name)))
}

// OrDash shows an empty value as "-" in tables.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PrintEach prints items as one JSON array (never null), or each with print,
// separated by blank lines: how every describe verb answers.
func PrintEach[T any](w io.Writer, opts *Options, items []T, print func(io.Writer, T) error) error {
	if opts.JSONOutput() {
		if items == nil {
			items = []T{}
		}
		return JSON(w, items)
	}
	for i, it := range items {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := print(w, it); err != nil {
			return err
		}
	}
	return nil
}
