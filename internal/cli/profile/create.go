package profile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

func createCommand() *cobra.Command {
	var conn client.Conn
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a profile from connection flags and make it current",
		Long: `Create a profile from the connection flags given, and make it current.

Only the flags given are stored; the others keep their defaults when the
profile is used. Certificate paths are stored as absolute paths, and the
files are read now so that a wrong path shows at once. A password given with
--password is stored in the file (mode 0600); leave it out to supply it with
EDDY_PASSWORD or --password at each use instead.

Examples:
  # A local broker without security
  eddy profile create local -b 127.0.0.1:9092

  # SASL_SSL with SCRAM, the password stored in the profile
  eddy profile create prod -b kafka-1:9093 --tls-ca /etc/eddy/ca.pem \
      --user alice --password alice-secret

  # Mutual TLS: the broker takes the principal from the certificate
  eddy profile create mtls -b kafka-1:9093 --tls-ca ca.pem \
      --tls-cert alice.pem --tls-key alice-key.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd, args[0], client.Given(cmd.Flags(), conn))
		},
	}
	client.RegisterConn(cmd.Flags(), &conn)
	return cmd
}

func runCreate(cmd *cobra.Command, name string, conn client.Conn) error {
	if name == "" || strings.TrimSpace(name) != name {
		return errors.New("a profile name must be non-empty, without leading or trailing spaces")
	}
	conn, err := conn.AbsPaths()
	if err != nil {
		return err
	}
	if err := conn.CheckProfile(); err != nil {
		return fmt.Errorf("profile %q: %w", name, err)
	}
	p, path, err := load()
	if err != nil {
		return err
	}
	if _, ok := p.Profiles[name]; ok {
		return fmt.Errorf("profile %q already exists: delete it first (eddy profile delete %s)", name, name)
	}
	p.Profiles[name] = conn
	p.Current = name
	if err := p.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Created profile %q and made it current (%s).\n", name, path)
	return nil
}
