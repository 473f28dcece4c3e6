package client

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// testProfiles has a plain local profile, a SASL_SSL one (current), and one
// whose password must come from elsewhere.
func testProfiles() *Profiles {
	return &Profiles{
		Current: "prod",
		Profiles: map[string]Conn{
			"local":  {Brokers: []string{"127.0.0.1:9092"}},
			"prod":   {Brokers: []string{"k1:9093", "k2:9093"}, TLSCA: "/ca.pem", User: "alice", Password: "from-profile", SASLMechanism: "SCRAM-SHA-512"},
			"nopass": {Brokers: []string{"k1:9093"}, User: "bob"},
			"badkey": {TLSKey: "/key.pem"},
		},
	}
}

// The connection settings a command uses: flags given beat EDDY_PASSWORD,
// which beats the profile; --profile beats the current profile.
func TestResolveConn(t *testing.T) {
	prod := testProfiles().Profiles["prod"]
	withPassword := func(c Conn, p string) Conn { c.Password = p; return c }
	tests := []struct {
		name     string
		profiles *Profiles
		pick     string
		flags    Conn
		given    []string
		env      string
		want     Conn
		wantErr  string
	}{
		{name: "nothing anywhere", profiles: &Profiles{}, want: Conn{Brokers: []string{DefaultBroker}}},
		{name: "brokers flag", profiles: &Profiles{}, flags: Conn{Brokers: []string{"a:1", "b:2"}}, given: []string{flagBrokers},
			want: Conn{Brokers: []string{"a:1", "b:2"}}},
		{name: "current profile", profiles: testProfiles(), want: prod},
		{name: "flag beats profile", profiles: testProfiles(), flags: Conn{Brokers: []string{"x:1"}, SASLMechanism: "plain"},
			given: []string{flagBrokers, flagSASLMechanism},
			want:  Conn{Brokers: []string{"x:1"}, TLSCA: "/ca.pem", User: "alice", Password: "from-profile", SASLMechanism: "PLAIN"}},
		{name: "flag not given does not beat profile", profiles: testProfiles(), flags: Conn{Brokers: []string{"x:1"}}, want: prod},
		{name: "--profile picks another", profiles: testProfiles(), pick: "local", want: Conn{Brokers: []string{"127.0.0.1:9092"}}},
		{name: "unknown --profile", profiles: testProfiles(), pick: "nope", wantErr: `no profile "nope"`},
		{name: "env beats profile password", profiles: testProfiles(), env: "from-env", want: withPassword(prod, "from-env")},
		{name: "flag beats env password", profiles: testProfiles(), env: "from-env", flags: Conn{Password: "from-flag"},
			given: []string{flagPassword}, want: withPassword(prod, "from-flag")},
		{name: "profile user, env password", profiles: testProfiles(), pick: "nopass", env: "pw",
			want: Conn{Brokers: []string{"k1:9093"}, User: "bob", Password: "pw", SASLMechanism: MechanismScram256}},
		{name: "profile user without password", profiles: testProfiles(), pick: "nopass",
			wantErr: `--user bob needs a password: give --password or set EDDY_PASSWORD (with profile "nopass")`},
		{name: "env password ignored without user", profiles: &Profiles{}, env: "pw", want: Conn{Brokers: []string{DefaultBroker}}},
		{name: "user flag without password", profiles: &Profiles{}, flags: Conn{User: "carol"}, given: []string{flagUser},
			wantErr: "--user carol needs a password"},
		{name: "password flag without user", profiles: &Profiles{}, flags: Conn{Password: "pw"}, given: []string{flagPassword},
			wantErr: "--password given without --user"},
		{name: "mechanism without user", profiles: &Profiles{}, flags: Conn{SASLMechanism: "PLAIN"}, given: []string{flagSASLMechanism},
			wantErr: "--sasl-mechanism given without --user"},
		{name: "unknown mechanism", profiles: &Profiles{}, flags: Conn{User: "u", Password: "p", SASLMechanism: "GSSAPI"},
			given: []string{flagUser, flagPassword, flagSASLMechanism}, wantErr: `unknown --sasl-mechanism "GSSAPI" (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`},
		{name: "mechanism in any case", profiles: &Profiles{}, flags: Conn{User: "u", Password: "p", SASLMechanism: "scram-sha-512"},
			given: []string{flagUser, flagPassword, flagSASLMechanism},
			want:  Conn{Brokers: []string{DefaultBroker}, User: "u", Password: "p", SASLMechanism: MechanismScram512}},
		{name: "key without cert", profiles: &Profiles{}, flags: Conn{TLSKey: "k.pem"}, given: []string{flagTLSKey},
			wantErr: "--tls-key needs --tls-cert"},
		{name: "cert without key", profiles: &Profiles{}, flags: Conn{TLSCert: "c.pem"}, given: []string{flagTLSCert},
			wantErr: "--tls-cert needs --tls-key"},
		{name: "flag error does not blame the profile", profiles: testProfiles(), pick: "local", flags: Conn{TLSKey: "k.pem"},
			given: []string{flagTLSKey}, wantErr: "--tls-key needs --tls-cert: a client key is useless without its certificate"},
		{name: "profile error names it", profiles: testProfiles(), pick: "badkey", wantErr: `--tls-key needs --tls-cert: a client key is useless without its certificate (with profile "badkey")`},
		{name: "flag repairs the profile", profiles: testProfiles(), pick: "badkey", flags: Conn{TLSCert: "c.pem"}, given: []string{flagTLSCert},
			want: Conn{Brokers: []string{DefaultBroker}, TLSCert: "c.pem", TLSKey: "/key.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := func(name string) bool {
				for _, g := range tt.given {
					if g == name {
						return true
					}
				}
				return false
			}
			got, err := resolveConn(tt.flags, changed, tt.env, tt.profiles, tt.pick)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.HasSuffix(tt.wantErr, "certificate") && strings.Contains(err.Error(), "profile") {
					t.Fatalf("err = %v blames a profile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Options tells the flags typed on a command line from their defaults, so
// a profile's value survives a flag that was not given.
func TestOptionsOverProfile(t *testing.T) {
	path := t.TempDir() + "/profiles.yaml"
	if err := testProfiles().Save(path); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ConfigEnv, path)
	t.Setenv(PasswordEnv, "")
	for _, tt := range []struct {
		args []string
		want Conn
	}{
		{nil, testProfiles().Profiles["prod"]},
		{[]string{"--user", "dave"}, Conn{Brokers: []string{"k1:9093", "k2:9093"}, TLSCA: "/ca.pem", User: "dave", Password: "from-profile", SASLMechanism: MechanismScram512}},
		{[]string{"--profile", "local", "-b", "h:1"}, Conn{Brokers: []string{"h:1"}}},
	} {
		// The flags are registered on a noun and given to its verb, as
		// every client command has them.
		var opts Options
		var got Conn
		noun := &cobra.Command{Use: "noun"}
		noun.AddCommand(&cobra.Command{Use: "verb", RunE: func(*cobra.Command, []string) error {
			var err error
			got, err = opts.Resolve()
			return err
		}})
		opts.Register(noun)
		noun.SetArgs(append([]string{"verb"}, tt.args...))
		if err := noun.Execute(); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: got %+v, want %+v", tt.args, got, tt.want)
		}
	}
}
