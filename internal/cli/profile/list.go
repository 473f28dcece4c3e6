package profile

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// listed is one row of list's output. The password itself is never shown.
type listed struct {
	Name        string `json:"name"`
	Current     bool   `json:"current"`
	PasswordSet bool   `json:"password_set"`
	client.Conn
}

func listCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List profiles",
		Long: `List profiles; the current one is marked with *. Passwords are never
printed, only whether the profile stores one.

Examples:
  eddy profile list
  eddy profile list --format json | jq -r '.[] | select(.current) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := client.CheckFormat(format); err != nil {
				return err
			}
			p, _, err := load()
			if err != nil {
				return err
			}
			out, rows := listRows(p)
			opts := client.Options{Format: format}
			return opts.Render(cmd.OutOrStdout(), out, []string{"", "NAME", "BROKERS", "TLS", "USER", "MECHANISM", "PASSWORD"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func listRows(p *client.Profiles) ([]listed, [][]string) {
	out := make([]listed, 0, len(p.Profiles))
	rows := make([][]string, 0, len(p.Profiles))
	for _, name := range p.Names() {
		c := p.Profiles[name]
		l := listed{Name: name, Current: name == p.Current, PasswordSet: c.Password != "", Conn: c}
		out = append(out, l)
		rows = append(rows, []string{mark(l.Current), name, client.OrDash(strings.Join(c.Brokers, ",")),
			yesNo(c.TLS()), client.OrDash(c.User), client.OrDash(mechanism(c)), stored(l.PasswordSet)})
	}
	return out, rows
}

// mechanism is the mechanism a profile with a user authenticates with.
func mechanism(c client.Conn) string {
	if c.User == "" || c.SASLMechanism != "" {
		return c.SASLMechanism
	}
	return client.MechanismScram256
}

func mark(b bool) string {
	if b {
		return "*"
	}
	return ""
}

func stored(b bool) string {
	if b {
		return "stored"
	}
	return "-"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
