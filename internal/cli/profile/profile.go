// Package profile holds the eddy profile command: named connection settings
// (brokers, TLS, SASL) kept in a file so that a user need not repeat the
// connection flags on every command, as rpk's profiles do. The file format
// and how a profile combines with the flags live in package client.
package profile

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy profile command.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Save connection settings as named profiles",
		Long: `Save connection settings (brokers, TLS, SASL) as named profiles.

The current profile supplies the connection flags that a command does not
give: a flag on the command line always wins, and --profile NAME picks
another profile for one command. EDDY_PASSWORD, when set, wins over a
profile's password.

Profiles live in one YAML file: $EDDY_CONFIG if set, else
~/.config/eddy/profiles.yaml ($XDG_CONFIG_HOME/eddy/profiles.yaml when
XDG_CONFIG_HOME is set). The file is written with mode 0600 because a
profile may hold a password.

Examples:
  # A profile for a SASL_SSL cluster; creating it makes it current
  eddy profile create prod -b kafka-1:9093,kafka-2:9093 --tls-ca ca.pem \
      --user alice --sasl-mechanism SCRAM-SHA-512

  # Commands now connect as alice over TLS; the password comes from the
  # environment since the profile does not store one
  EDDY_PASSWORD=alice-secret eddy topic list

  # Switch back to a local broker for one command, or for good
  eddy topic list --profile local
  eddy profile use local

  eddy profile list
  eddy profile delete prod`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(createCommand(), useCommand(), listCommand(), deleteCommand())
	return cmd
}

// load reads the profile file and returns it with its path.
func load() (*client.Profiles, string, error) {
	path, err := client.ProfilePath()
	if err != nil {
		return nil, "", err
	}
	p, err := client.LoadProfiles(path)
	if err != nil {
		return nil, "", err
	}
	if p.Profiles == nil {
		p.Profiles = map[string]client.Conn{}
	}
	return p, path, nil
}

// mustExist returns an error naming the profiles there are when name is
// not one of them.
func mustExist(p *client.Profiles, name string) error {
	if _, ok := p.Profiles[name]; ok {
		return nil
	}
	if len(p.Profiles) == 0 {
		return fmt.Errorf("no profile %q: there are no profiles yet (eddy profile create)", name)
	}
	return fmt.Errorf("no profile %q (have: %v)", name, p.Names())
}
