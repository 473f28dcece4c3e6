package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// DefaultBroker is the seed broker when neither -b nor a profile names one.
const DefaultBroker = "127.0.0.1:9092"

// PasswordEnv is the environment variable read when --password is not
// given: a password on the command line shows in ps and shell history.
const PasswordEnv = "EDDY_PASSWORD"

// The SASL mechanisms --sasl-mechanism accepts, as Kafka names them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScram256    = "SCRAM-SHA-256"
	MechanismScram512    = "SCRAM-SHA-512"
	defaultSASLMechanism = MechanismScram256
)

// The connection flag names, shared by every client command, by profile
// create, and by the keys of a profile in the profile file.
const (
	flagBrokers       = "brokers"
	flagTLSEnabled    = "tls-enabled"
	flagTLSCA         = "tls-ca"
	flagTLSCert       = "tls-cert"
	flagTLSKey        = "tls-key"
	flagUser          = "user"
	flagPassword      = "password"
	flagSASLMechanism = "sasl-mechanism"
)

// Conn is how a client reaches the cluster: the seed brokers, TLS and SASL.
// The same struct holds the flags given on a command line, one profile of
// the profile file, and the settings resolved from both.
type Conn struct {
	Brokers       []string `yaml:"brokers,omitempty" json:"brokers,omitempty"`
	TLSEnabled    bool     `yaml:"tls-enabled,omitempty" json:"tls_enabled,omitempty"`
	TLSCA         string   `yaml:"tls-ca,omitempty" json:"tls_ca,omitempty"`
	TLSCert       string   `yaml:"tls-cert,omitempty" json:"tls_cert,omitempty"`
	TLSKey        string   `yaml:"tls-key,omitempty" json:"tls_key,omitempty"`
	User          string   `yaml:"user,omitempty" json:"user,omitempty"`
	Password      string   `yaml:"password,omitempty" json:"-"` // never printed
	SASLMechanism string   `yaml:"sasl-mechanism,omitempty" json:"sasl_mechanism,omitempty"`
}

// RegisterConn adds the connection flags to fs, bound to c. Every default
// is empty so that a profile can supply it; DefaultBroker applies last.
func RegisterConn(fs *pflag.FlagSet, c *Conn) {
	fs.StringSliceVarP(&c.Brokers, flagBrokers, "b", nil, "comma-separated seed brokers (default "+DefaultBroker+", or the profile's)")
	fs.BoolVar(&c.TLSEnabled, flagTLSEnabled, false, "connect with TLS, verifying brokers against the system roots (implied by --tls-ca and --tls-cert)")
	fs.StringVar(&c.TLSCA, flagTLSCA, "", "PEM file of the CA certificates that sign the brokers' certificates; turns TLS on")
	fs.StringVar(&c.TLSCert, flagTLSCert, "", "PEM client certificate for mutual TLS (needs --tls-key); turns TLS on")
	fs.StringVar(&c.TLSKey, flagTLSKey, "", "PEM private key of --tls-cert")
	fs.StringVar(&c.User, flagUser, "", "SASL user name; turns SASL on")
	fs.StringVar(&c.Password, flagPassword, "", "SASL password (or the "+PasswordEnv+" environment variable)")
	fs.StringVar(&c.SASLMechanism, flagSASLMechanism, "", "SASL mechanism: PLAIN, SCRAM-SHA-256 (default) or SCRAM-SHA-512")
}

// overlay returns c with every field whose flag changed reports as given
// taken from flags instead: a flag on the command line beats the profile.
func (c Conn) overlay(flags Conn, changed func(name string) bool) Conn {
	if changed(flagBrokers) {
		c.Brokers = flags.Brokers
	}
	if changed(flagTLSEnabled) {
		c.TLSEnabled = flags.TLSEnabled
	}
	pick := func(dst *string, name, v string) {
		if changed(name) {
			*dst = v
		}
	}
	pick(&c.TLSCA, flagTLSCA, flags.TLSCA)
	pick(&c.TLSCert, flagTLSCert, flags.TLSCert)
	pick(&c.TLSKey, flagTLSKey, flags.TLSKey)
	pick(&c.User, flagUser, flags.User)
	pick(&c.Password, flagPassword, flags.Password)
	pick(&c.SASLMechanism, flagSASLMechanism, flags.SASLMechanism)
	return c
}

// TLS reports whether c connects with TLS.
func (c Conn) TLS() bool {
	return c.TLSEnabled || c.TLSCA != "" || c.TLSCert != ""
}

// Check rejects settings that cannot work, before anything is read from
// disk or sent: half a client key pair, a password without a user, and so
// on. It also canonicalises the mechanism's name.
func (c *Conn) Check() error {
	if len(c.Brokers) == 0 {
		return errors.New("no seed brokers: give -b/--brokers")
	}
	switch {
	case c.TLSKey != "" && c.TLSCert == "":
		return fmt.Errorf("--%s needs --%s: a client key is useless without its certificate", flagTLSKey, flagTLSCert)
	case c.TLSCert != "" && c.TLSKey == "":
		return fmt.Errorf("--%s needs --%s: the private key of the client certificate", flagTLSCert, flagTLSKey)
	}
	mech, err := canonicalMechanism(c.SASLMechanism)
	if err != nil {
		return err
	}
	switch {
	case c.User == "" && c.Password != "":
		return fmt.Errorf("--%s given without --%s", flagPassword, flagUser)
	case c.User == "" && c.SASLMechanism != "":
		return fmt.Errorf("--%s given without --%s", flagSASLMechanism, flagUser)
	case c.User != "" && c.Password == "":
		return fmt.Errorf("--%s %s needs a password: give --%s or set %s", flagUser, c.User, flagPassword, PasswordEnv)
	}
	if c.User != "" {
		c.SASLMechanism = mech
	}
	return nil
}

// canonicalMechanism returns Kafka's spelling of a mechanism name given in
// any case; empty means the default.
func canonicalMechanism(name string) (string, error) {
	switch strings.ToUpper(name) {
	case "":
		return defaultSASLMechanism, nil
	case MechanismPlain:
		return MechanismPlain, nil
	case MechanismScram256:
		return MechanismScram256, nil
	case MechanismScram512:
		return MechanismScram512, nil
	}
	return "", fmt.Errorf("unknown --%s %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", flagSASLMechanism, name)
}

// KgoOpts returns the franz-go options that connect as c: the seeds, the
// TLS dialer and the SASL mechanism. c must have passed Check.
func (c Conn) KgoOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.TLS() {
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if c.User != "" {
		opts = append(opts, kgo.SASL(c.mechanism()))
	}
	return opts, nil
}

// tlsConfig loads the CA and client certificate files. franz-go fills in
// ServerName from each broker's host, so one config serves every broker.
func (c Conn) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("reading --%s: %w", flagTLSCA, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--%s %s: no PEM certificate found in the file", flagTLSCA, c.TLSCA)
		}
	}
	if c.TLSCert != "" {
		cert, err := loadKeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// loadKeyPair reads the client certificate and key, naming the flag whose
// file is at fault: tls.LoadX509KeyPair alone does not say which.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading --%s: %w", flagTLSCert, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading --%s: %w", flagTLSKey, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading the client certificate (--%s %s, --%s %s): %w", flagTLSCert, certFile, flagTLSKey, keyFile, err)
	}
	return cert, nil
}

// mechanism is c's SASL mechanism for franz-go.
func (c Conn) mechanism() sasl.Mechanism {
	switch c.SASLMechanism {
	case MechanismPlain:
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	case MechanismScram512:
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	}
	return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
}
