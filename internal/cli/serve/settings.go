package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Settings are the node's start-up settings, as the config file spells them.
type Settings struct {
	DataDir       string `yaml:"data-dir"`
	KafkaAddr     string `yaml:"kafka-addr"`
	HTTPAddr      string `yaml:"http-addr"`
	AdvertiseAddr string `yaml:"advertise-addr"`
	NodeID        int32  `yaml:"node-id"`
	// ControllerAddr is this node's metadata quorum listener; Voters the
	// initial quorum voters, "1@host:port,2@host:port,..."; Rack the
	// node's rack. No voters: a standalone single-node cluster.
	ControllerAddr string            `yaml:"controller-addr"`
	Voters         string            `yaml:"voters"`
	Rack           string            `yaml:"rack"`
	LogLevel       string            `yaml:"log-level"`
	LogFormat      string            `yaml:"log-format"`
	Broker         map[string]string `yaml:"broker"`
	// TLS on the Kafka listener: PEM certificate and key, and a client
	// CA that makes client certificates required (mTLS).
	TLSCert     string `yaml:"tls-cert"`
	TLSKey      string `yaml:"tls-key"`
	TLSClientCA string `yaml:"tls-client-ca"`
	// BootstrapUser, "name:password", comes from EDDY_BOOTSTRAP_USER only:
	// a password belongs in neither a config file nor the process's
	// arguments, which other users can read.
	BootstrapUser string `yaml:"-"`
	// EncryptionKeyFile names the keys of encryption at rest (one 64-hex
	// key a line, the first encrypts); empty: encryption off.
	EncryptionKeyFile string `yaml:"encryption-key-file"`
}

// Defaults are the settings of a first run: a single node on loopback.
func Defaults() Settings {
	return Settings{
		DataDir:   "./eddy-data",
		KafkaAddr: "127.0.0.1:9092",
		HTTPAddr:  "127.0.0.1:8080",
		NodeID:    1,
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// resolve layers defaults, the file, the environment and the flags that
// were set, in that order.
func resolve(file string, flagSet func(string) bool, flags Settings, sets []string) (Settings, error) {
	s := Defaults()
	if file != "" {
		if err := s.loadFile(file); err != nil {
			return s, err
		}
	}
	if err := s.applyEnv(os.LookupEnv); err != nil {
		return s, err
	}
	s.applyFlags(flagSet, flags)
	if s.Broker == nil {
		s.Broker = map[string]string{}
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s, fmt.Errorf("--set %q: want key=value", kv)
		}
		s.Broker[k] = v
	}
	return s, nil
}

func (s *Settings) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

func (s *Settings) applyEnv(lookup func(string) (string, bool)) error {
	for name, dst := range map[string]*string{
		"EDDY_DATA_DIR": &s.DataDir, "EDDY_KAFKA_ADDR": &s.KafkaAddr, "EDDY_HTTP_ADDR": &s.HTTPAddr,
		"EDDY_ADVERTISE_ADDR": &s.AdvertiseAddr, "EDDY_LOG_LEVEL": &s.LogLevel, "EDDY_LOG_FORMAT": &s.LogFormat,
		"EDDY_CONTROLLER_ADDR": &s.ControllerAddr, "EDDY_VOTERS": &s.Voters, "EDDY_RACK": &s.Rack,
		"EDDY_TLS_CERT": &s.TLSCert, "EDDY_TLS_KEY": &s.TLSKey, "EDDY_TLS_CLIENT_CA": &s.TLSClientCA,
		"EDDY_ENCRYPTION_KEY_FILE": &s.EncryptionKeyFile,
	} {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	if v, ok := lookup("EDDY_BOOTSTRAP_USER"); ok {
		s.BootstrapUser = v
	}
	if v, ok := lookup("EDDY_NODE_ID"); ok {
		id, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("EDDY_NODE_ID=%q: %w", v, err)
		}
		s.NodeID = int32(id)
	}
	return nil
}

func (s *Settings) applyFlags(set func(string) bool, f Settings) {
	for name, pair := range map[string][2]*string{
		"data-dir": {&s.DataDir, &f.DataDir}, "kafka-addr": {&s.KafkaAddr, &f.KafkaAddr}, "http-addr": {&s.HTTPAddr, &f.HTTPAddr},
		"advertise-addr": {&s.AdvertiseAddr, &f.AdvertiseAddr}, "log-level": {&s.LogLevel, &f.LogLevel}, "log-format": {&s.LogFormat, &f.LogFormat},
		"controller-addr": {&s.ControllerAddr, &f.ControllerAddr}, "voters": {&s.Voters, &f.Voters}, "rack": {&s.Rack, &f.Rack},
		"tls-cert": {&s.TLSCert, &f.TLSCert}, "tls-key": {&s.TLSKey, &f.TLSKey}, "tls-client-ca": {&s.TLSClientCA, &f.TLSClientCA},
		"encryption-key-file": {&s.EncryptionKeyFile, &f.EncryptionKeyFile},
	} {
		if set(name) {
			*pair[0] = *pair[1]
		}
	}
	if set("node-id") {
		s.NodeID = f.NodeID
	}
}
