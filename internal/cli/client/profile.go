package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/pflag"

	"go.yaml.in/yaml/v3"
)

// ConfigEnv names the profile file, overriding the default path.
const ConfigEnv = "EDDY_CONFIG"

// Profiles is the profile file: named connection settings and the one in
// use. It is YAML, written with mode 0600 because a profile may hold a
// password:
//
//	current: prod
//	profiles:
//	  prod:
//	    brokers: [kafka-1:9092, kafka-2:9092]
//	    tls-ca: /etc/eddy/ca.pem
//	    user: alice
//	    password: alice-secret
//	    sasl-mechanism: SCRAM-SHA-512
type Profiles struct {
	Current  string          `yaml:"current,omitempty"`
	Profiles map[string]Conn `yaml:"profiles,omitempty"`
}

// ProfilePath is where the profile file lives: $EDDY_CONFIG, else
// profiles.yaml under $XDG_CONFIG_HOME/eddy or ~/.config/eddy.
func ProfilePath() (string, error) {
	if p := os.Getenv(ConfigEnv); p != "" {
		return p, nil
	}
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "eddy", "profiles.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the profile file (set %s): %w", ConfigEnv, err)
	}
	return filepath.Join(home, ".config", "eddy", "profiles.yaml"), nil
}

// LoadProfiles reads the profile file at path; a missing file is an empty
// set of profiles, not an error.
func LoadProfiles(path string) (*Profiles, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Profiles{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the profile file: %w", err)
	}
	var p Profiles
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing the profile file %s: %w", path, err)
	}
	if p.Current != "" {
		if _, ok := p.Profiles[p.Current]; !ok {
			return nil, fmt.Errorf("profile file %s: current profile %q is not defined", path, p.Current)
		}
	}
	return &p, nil
}

// Save writes p to path through a temporary file renamed over it, so a
// crash never leaves half a file, creating the directory (0700) if needed.
func (p *Profiles) Save(path string) error {
	data, err := yaml.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding profiles: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the profile directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".profiles-*.yaml") // mode 0600
	if err != nil {
		return fmt.Errorf("writing the profile file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the profile file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the profile file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the profile file: %w", err)
	}
	return nil
}

// Names returns the profile names in order.
func (p *Profiles) Names() []string {
	names := make([]string, 0, len(p.Profiles))
	for n := range p.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// pick returns the profile a command uses: the one named (by --profile),
// else the current one, else none. Naming an unknown profile is an error.
func (p *Profiles) pick(name string) (string, Conn, error) {
	if name == "" {
		name = p.Current
	}
	if name == "" {
		return "", Conn{}, nil
	}
	c, ok := p.Profiles[name]
	if !ok {
		return "", Conn{}, fmt.Errorf("no profile %q (eddy profile list shows them)", name)
	}
	return name, c, nil
}

// CheckProfile rejects a profile that could never connect, as Check does,
// and reads its certificate files so that a wrong path shows at creation.
// A user without a password is fine: EDDY_PASSWORD or --password may
// supply it when the profile is used. The mechanism's name is
// canonicalised in place.
func (c *Conn) CheckProfile() error {
	check := *c
	if len(check.Brokers) == 0 {
		check.Brokers = []string{DefaultBroker}
	}
	if check.User != "" && check.Password == "" {
		check.Password = "supplied later"
	}
	if err := check.Check(); err != nil {
		return err
	}
	if check.TLS() {
		if _, err := check.tlsConfig(); err != nil {
			return err
		}
	}
	if c.SASLMechanism != "" {
		c.SASLMechanism = check.SASLMechanism
	}
	return nil
}

// AbsPaths returns c with its certificate paths made absolute, so that a
// profile works from any directory.
func (c Conn) AbsPaths() (Conn, error) {
	for _, p := range []*string{&c.TLSCA, &c.TLSCert, &c.TLSKey} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return Conn{}, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	return c, nil
}

// Given returns the connection flags set on fs's command line, for a
// profile to store: defaults are not stored, so they stay defaults.
func Given(fs *pflag.FlagSet, flags Conn) Conn {
	return Conn{}.overlay(flags, fs.Changed)
}
