// Package acl holds the eddy acl command: Kafka ACLs created, listed and
// deleted through CreateAcls (30), DescribeAcls (29) and DeleteAcls (31),
// built with kadm's ACL builder. The flags of all three verbs live in
// flags.go; each verb is one file.
package acl

import (
	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// Command returns the eddy acl command.
func Command() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Create, list and delete ACLs",
		Long: `Create, list and delete ACLs: who (principal, host) may or may not do what
(operation) to which resources (topics, groups, the cluster, transactional
IDs), as Kafka's authorizer reads them. ACLs only take effect on a broker
started with --set authorizer.class.name=...StandardAuthorizer; a deny always
wins over an allow, and super.users bypass ACLs.

Every flag naming principals, hosts, operations or resources repeats, and
an ACL is made for every combination: two principals and three operations
on one topic are six ACLs. A principal without a type gets "User:".

Operations: all, read, write, create, delete, alter, describe,
cluster_action, describe_configs, alter_configs, idempotent_write.

Examples:
  # alice may produce to and consume from every topic starting with "orders"
  eddy acl create --allow-principal alice --operation write,read,describe \
      --topic orders --resource-pattern-type prefixed

  # ... and use the consumer group billing
  eddy acl create --allow-principal alice --operation read --group billing

  # everyone but bob may read topic audit
  eddy acl create --allow-principal '*' --deny-principal bob --operation read --topic audit

  eddy acl list
  eddy acl list --principal alice --format json
  eddy acl delete --allow-principal alice --group billing`,
		Args: cobra.NoArgs,
	}
	opts.Register(cmd)
	cmd.AddCommand(createCommand(&opts), listCommand(&opts), deleteCommand(&opts))
	return cmd
}
