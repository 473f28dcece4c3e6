package acl

import (
	"cmp"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// entry is one ACL as every verb prints it, in Kafka's names.
type entry struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	Pattern      string `json:"pattern"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	Error        string `json:"error,omitempty"`
}

var header = []string{"PRINCIPAL", "HOST", "RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN", "OPERATION", "PERMISSION"}

func newEntry(principal, host string, typ kmsg.ACLResourceType, name string, pattern kadm.ACLPattern, op kadm.ACLOperation, perm kmsg.ACLPermissionType) entry {
	return entry{
		Principal: principal, Host: host,
		ResourceType: typ.String(), ResourceName: name, Pattern: pattern.String(),
		Operation: op.String(), Permission: perm.String(),
	}
}

func (e entry) row() []string {
	return []string{e.Principal, e.Host, e.ResourceType, e.ResourceName, e.Pattern, e.Operation, e.Permission}
}

// sortedUnique orders entries by resource, then principal, and drops
// duplicates: the several filters one command sends can match one ACL
// more than once (two topic names that one prefixed ACL covers).
func sortedUnique(es []entry) []entry {
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
			cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host),
			cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission), cmp.Compare(a.Error, b.Error))
	})
	return slices.Compact(es)
}

// render prints entries without an error as a table (all of them as JSON).
func render(cmd *cobra.Command, opts *client.Options, es []entry) error {
	if es == nil {
		es = []entry{}
	}
	rows := make([][]string, 0, len(es))
	for _, e := range es {
		if e.Error == "" {
			rows = append(rows, e.row())
		}
	}
	return opts.Render(cmd.OutOrStdout(), es, header, rows)
}
