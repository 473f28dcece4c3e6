package serve

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "eddy.yaml")
	if err := os.WriteFile(file, []byte("data-dir: /from/file\nnode-id: 7\nkafka-addr: 127.0.0.1:1111\ntls-cert: file.pem\ntls-key: file-key.pem\nbroker:\n  num.partitions: \"3\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDDY_KAFKA_ADDR", "127.0.0.1:2222")
	t.Setenv("EDDY_NODE_ID", "8")
	t.Setenv("EDDY_BOOTSTRAP_USER", "admin:admin:secret")
	t.Setenv("EDDY_TLS_KEY", "env-key.pem")
	t.Setenv("EDDY_TLS_CLIENT_CA", "env-ca.pem")
	changed := map[string]bool{"node-id": true, "tls-client-ca": true}
	s, err := resolve(file, func(n string) bool { return changed[n] }, Settings{NodeID: 9, TLSClientCA: "flag-ca.pem"}, []string{"log.retention.ms=5"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"data-dir from file", s.DataDir, "/from/file"},
		{"kafka-addr env over file", s.KafkaAddr, "127.0.0.1:2222"},
		{"http-addr default", s.HTTPAddr, "127.0.0.1:8080"},
		{"num.partitions from file", s.Broker["num.partitions"], "3"},
		{"--set", s.Broker["log.retention.ms"], "5"},
		{"tls-cert from file", s.TLSCert, "file.pem"},
		{"tls-key env over file", s.TLSKey, "env-key.pem"},
		{"tls-client-ca flag over env", s.TLSClientCA, "flag-ca.pem"},
		{"bootstrap user from env", s.BootstrapUser, "admin:admin:secret"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.NodeID != 9 {
		t.Errorf("node-id: flag should win, got %d", s.NodeID)
	}
}

func TestResolveEncryptionKeyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "eddy.yaml")
	if err := os.WriteFile(file, []byte("encryption-key-file: /from/file.hex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := func(string) bool { return false }
	for _, c := range []struct {
		name, env, flag, want string
	}{
		{"file", "", "", "/from/file.hex"},
		{"env over file", "/from/env.hex", "", "/from/env.hex"},
		{"flag over env", "/from/env.hex", "/from/flag.hex", "/from/flag.hex"},
	} {
		if c.env != "" {
			t.Setenv("EDDY_ENCRYPTION_KEY_FILE", c.env)
		}
		set := none
		if c.flag != "" {
			set = func(n string) bool { return n == "encryption-key-file" }
		}
		s, err := resolve(file, set, Settings{EncryptionKeyFile: c.flag}, nil)
		if err != nil || s.EncryptionKeyFile != c.want {
			t.Errorf("%s: got %q (%v), want %q", c.name, s.EncryptionKeyFile, err, c.want)
		}
	}
}

func TestResolveRejects(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("data-dri: x\n"), 0o644)
	none := func(string) bool { return false }
	if _, err := resolve(unknown, none, Settings{}, nil); err == nil {
		t.Error("unknown config key accepted")
	}
	// The bootstrap user's password comes from the environment only.
	withUser := filepath.Join(dir, "user.yaml")
	os.WriteFile(withUser, []byte("BootstrapUser: a:b\n"), 0o644)
	if _, err := resolve(withUser, none, Settings{}, nil); err == nil {
		t.Error("bootstrap user accepted from a config file")
	}
	if _, err := resolve("", none, Settings{}, []string{"novalue"}); err == nil {
		t.Error("--set without = accepted")
	}
	t.Setenv("EDDY_NODE_ID", "x")
	if _, err := resolve("", none, Settings{}, nil); err == nil {
		t.Error("bad EDDY_NODE_ID accepted")
	}
}
