// Package client holds what every client subcommand shares: the connection
// flags (brokers, TLS, SASL) and the profiles that supply their defaults,
// the franz-go clients built from them, and the table/JSON printers.
package client

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are the connection and output flags shared by client commands.
// The connection settings a command uses come from three places, the first
// that has a value winning: the flags on its command line, the
// EDDY_PASSWORD environment variable (for the password only), and the
// profile chosen by --profile or made current by "eddy profile use".
type Options struct {
	Flags   Conn // connection flags as given on the command line
	Format  string
	Profile string

	fs       *pflag.FlagSet // to tell flags given from defaults
	resolved *Conn          // set by Resolve
}

// Register adds the connection flags, --profile and --format to cmd's
// persistent flags, so every verb under cmd has them.
func (o *Options) Register(cmd *cobra.Command) {
	o.fs = cmd.PersistentFlags()
	RegisterConn(o.fs, &o.Flags)
	o.fs.StringVar(&o.Profile, "profile", "", "connection profile to use instead of the current one (see eddy profile)")
	o.fs.StringVar(&o.Format, "format", "text", "output format: text or json")
}

// Validate rejects unknown output formats and unusable connection settings
// before anything connects.
func (o *Options) Validate() error {
	if err := CheckFormat(o.Format); err != nil {
		return err
	}
	_, err := o.Resolve()
	return err
}

// CheckFormat rejects a --format other than text and json.
func CheckFormat(format string) error {
	switch format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("unknown --format %q (want text or json)", format)
}

// Resolve returns the connection settings this command uses, checked: the
// flags given over the profile, with the defaults for what neither sets.
func (o *Options) Resolve() (Conn, error) {
	if o.resolved != nil {
		return *o.resolved, nil
	}
	path, err := ProfilePath()
	if err != nil {
		return Conn{}, err
	}
	profiles, err := LoadProfiles(path)
	if err != nil {
		return Conn{}, err
	}
	changed := func(name string) bool { return o.fs != nil && o.fs.Changed(name) }
	c, err := resolveConn(o.Flags, changed, os.Getenv(PasswordEnv), profiles, o.Profile)
	if err != nil {
		return Conn{}, err
	}
	o.resolved = &c
	return c, nil
}

// resolveConn layers the profile, EDDY_PASSWORD and the flags given, then
// checks the result. An error that the flags alone do not cause names the
// profile, so the user knows where to look.
func resolveConn(flags Conn, changed func(string) bool, envPassword string, profiles *Profiles, profile string) (Conn, error) {
	name, prof, err := profiles.pick(profile)
	if err != nil {
		return Conn{}, err
	}
	c, err := layer(prof, flags, changed, envPassword)
	if err == nil || name == "" {
		return c, err
	}
	if _, alone := layer(Conn{}, flags, changed, envPassword); alone != nil && alone.Error() == err.Error() {
		return Conn{}, err
	}
	return Conn{}, fmt.Errorf("%w (with profile %q)", err, name)
}

// layer puts the flags given over base, then EDDY_PASSWORD unless
// --password was given, fills in the default broker, and checks the
// result. EDDY_PASSWORD without a user is ignored: it may be exported for
// another cluster.
func layer(base, flags Conn, changed func(string) bool, envPassword string) (Conn, error) {
	c := base.overlay(flags, changed)
	if envPassword != "" && c.User != "" && !changed(flagPassword) {
		c.Password = envPassword
	}
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	if err := c.Check(); err != nil {
		return Conn{}, err
	}
	return c, nil
}

// NewClient builds a kgo client that connects as the resolved settings say.
func (o *Options) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	c, err := o.Resolve()
	if err != nil {
		return nil, err
	}
	return c.NewClient(opts...)
}

// NewClient builds a kgo client connecting as c, with opts after c's own.
func (c Conn) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	conn, err := c.KgoOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(conn, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating client for %s: %w", strings.Join(c.Brokers, ","), err)
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
