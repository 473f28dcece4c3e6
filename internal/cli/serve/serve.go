// Package serve holds `eddy serve`, the command that runs a node.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/node"
)

// Command returns the eddy serve command.
func Command() *cobra.Command {
	var (
		file     string
		settings []string
		flags    Settings
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run an Eddy node",
		Long: `Run an Eddy node: a Kafka-protocol broker with its data on local disk.

With no flags it serves 127.0.0.1:9092 with its data in ./eddy-data.
Settings come from defaults, then the --config file, then EDDY_* environment
variables (EDDY_DATA_DIR, EDDY_KAFKA_ADDR, EDDY_HTTP_ADDR, EDDY_ADVERTISE_ADDR,
EDDY_NODE_ID, EDDY_CONTROLLER_ADDR, EDDY_VOTERS, EDDY_RACK, EDDY_LOG_LEVEL,
EDDY_LOG_FORMAT, EDDY_TLS_CERT, EDDY_TLS_KEY, EDDY_TLS_CLIENT_CA,
EDDY_ENCRYPTION_KEY_FILE), then flags; later ones win.

Security: --tls-cert and --tls-key put the Kafka listener behind TLS (1.2+;
replace the files to rotate, no restart); --tls-client-ca also requires
client certificates (mTLS, principal User:<subject CN>).
--set sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 requires SASL
(SASL_SSL with TLS, SASL_PLAINTEXT without); connections.max.reauth.ms makes
sessions expire unless the client re-authenticates (KIP-368).

Encryption at rest: --encryption-key-file names a file of 256-bit keys, 64
hex characters a line (# comments allowed). Record data is written encrypted
(AES-256-GCM) with the first key; every key listed decrypts. A node refuses
to start, touching nothing, without the keys its data needs. Rotate by
putting a new key first, then run "eddy storage reencrypt" while the node is
stopped, then drop the old key. Make a key with: openssl rand -hex 32

A cluster: every node gets the same --voters list (id@host:port of each
voter's --controller-addr) and its own --node-id. A node named in --voters
is a quorum voter and a broker, and needs its --controller-addr; a node not
named in it is a broker only, which follows the voters' metadata (an
observer) and needs no --controller-addr.
Kafka broker properties (num.partitions, log.retention.ms, ...) are set with
--set or under "broker:" in the config file.

The first user: EDDY_BOOTSTRAP_USER=name:password creates that user with
SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096 iterations) when the node
starts, unless the user has credentials already (they are kept, never
overwritten; on a cluster every node may be given it). Only the SCRAM keys
are stored, never the password. It is read from the environment only, so
the password stays out of config files and the process list. Make the user
a super user with --set super.users=User:name; change or add users later
with AlterUserScramCredentials (kafka-configs.sh, kadm).

Examples:
  eddy serve
  eddy serve --data-dir /var/lib/eddy --kafka-addr 0.0.0.0:9092 --advertise-addr kafka1.example.com:9092
  eddy serve --set num.partitions=3 --set log.retention.ms=86400000
  eddy serve --config eddy.yaml
  eddy serve --tls-cert server.pem --tls-key server-key.pem --tls-client-ca ca.pem
  eddy serve --tls-cert server.pem --tls-key server-key.pem --set sasl.enabled.mechanisms=SCRAM-SHA-512
  EDDY_BOOTSTRAP_USER=admin:admin-secret eddy serve --set super.users=User:admin
  eddy serve --encryption-key-file /etc/eddy/keys.hex
  eddy serve --node-id 1 --kafka-addr 10.0.0.1:9092 --controller-addr 10.0.0.1:9093 \
    --voters 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093 --data-dir /var/lib/eddy
  eddy serve --node-id 4 --kafka-addr 10.0.0.4:9092 \
    --voters 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093 --data-dir /var/lib/eddy

A config file:
  data-dir: ./eddy-data
  kafka-addr: 127.0.0.1:9092
  node-id: 1
  broker:
    auto.create.topics.enable: "false"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := resolve(file, cmd.Flags().Changed, flags, settings)
			if err != nil {
				return err
			}
			return run(cmd.Context(), s)
		},
	}
	f := cmd.Flags()
	d := Defaults()
	f.StringVar(&file, "config", "", "YAML config file")
	f.StringVar(&flags.DataDir, "data-dir", d.DataDir, "directory holding this node's data")
	f.StringVar(&flags.KafkaAddr, "kafka-addr", d.KafkaAddr, "Kafka listener address")
	f.StringVar(&flags.HTTPAddr, "http-addr", d.HTTPAddr, "HTTP listener address (health; empty disables)")
	f.StringVar(&flags.AdvertiseAddr, "advertise-addr", d.AdvertiseAddr, "address clients are told to connect to (default: --kafka-addr)")
	f.Int32Var(&flags.NodeID, "node-id", d.NodeID, "this node's id")
	f.StringVar(&flags.ControllerAddr, "controller-addr", "", "this node's metadata quorum listener (a voter's, with --voters)")
	f.StringVar(&flags.Voters, "voters", "", "initial quorum voters, id@host:port,... (like controller.quorum.voters); none: a single-node cluster")
	f.StringVar(&flags.Rack, "rack", "", "this node's rack (broker.rack)")
	f.StringVar(&flags.LogLevel, "log-level", d.LogLevel, "debug, info, warn or error")
	f.StringVar(&flags.LogFormat, "log-format", d.LogFormat, "text or json")
	f.StringVar(&flags.EncryptionKeyFile, "encryption-key-file", "", "file of encryption-at-rest keys (64 hex characters a line; the first encrypts)")
	f.StringArrayVar(&settings, "set", nil, "Kafka broker property key=value (repeatable)")
	f.StringVar(&flags.TLSCert, "tls-cert", "", "PEM certificate of the Kafka listener: clients must use TLS (reloaded when the file changes)")
	f.StringVar(&flags.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&flags.TLSClientCA, "tls-client-ca", "", "PEM CA certificates: clients must present a certificate they signed (mTLS); the principal is User:<subject CN>")
	return cmd
}

func run(ctx context.Context, s Settings) error {
	logger, err := s.logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, node.Config{
		DataDir:           s.DataDir,
		KafkaAddr:         s.KafkaAddr,
		HTTPAddr:          s.HTTPAddr,
		AdvertiseAddr:     s.AdvertiseAddr,
		NodeID:            s.NodeID,
		ControllerAddr:    s.ControllerAddr,
		Voters:            s.Voters,
		Rack:              s.Rack,
		Settings:          s.Broker,
		Logger:            logger,
		TLSCert:           s.TLSCert,
		TLSKey:            s.TLSKey,
		TLSClientCA:       s.TLSClientCA,
		BootstrapUser:     s.BootstrapUser,
		EncryptionKeyFile: s.EncryptionKeyFile,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	if err := n.Close(); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func (s Settings) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", s.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch s.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", s.LogFormat)
}
