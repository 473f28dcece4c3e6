package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/eddy-streaming/eddy/"

// rule forbids packages under from (module-relative) to import anything
// under the forbidden paths, except packages under one of except and,
// when testsMay, test files.
type rule struct {
	from      string
	forbidden []string
	except    []string
	testsMay  bool
	why       string
}

// internals are the packages a service on top of the Kafka protocol must
// not reach into.
var internals = []string{"internal/broker", "internal/storage", "internal/meta", "internal/config",
	"internal/group", "internal/txn", "internal/server", "internal/replica", "internal/controller",
	"internal/record", "internal/quorum"}

var rules = []rule{
	{from: "internal/storage", forbidden: []string{"internal/meta", "internal/replica", "internal/broker",
		"internal/group", "internal/txn", "internal/server", "internal/controller", "internal/config"},
		why: "storage is the bottom layer"},
	{from: "internal/meta", forbidden: []string{"internal/storage", "internal/replica", "internal/broker",
		"internal/server", "internal/controller"},
		why: "meta is a pure metadata image below the data path"},
	{from: "internal/config", forbidden: []string{"internal/meta", "internal/controller", "internal/broker",
		"internal/server"},
		why: "config is the catalog meta and the broker build on"},
	{from: "internal/controller", forbidden: []string{"internal/broker", "internal/server", "internal/node",
		"internal/cli", "internal/storage", "internal/replica"},
		why: "the controller sits above meta and below the broker, and decides metadata, not logs"},
	{from: "internal/quorum", forbidden: []string{"internal/meta", "internal/controller", "internal/replica",
		"internal/broker", "internal/server", "internal/storage", "internal/group", "internal/txn"},
		why: "the quorum replicates opaque commands; the metadata it carries is meta's"},
	{from: "internal/acl", forbidden: []string{"internal"},
		why: "the ACL model is pure; the metadata image stores it"},
	{from: "internal/netfault", forbidden: []string{"internal"},
		why: "the fault proxy is plain TCP, for tests of any layer"},
	{from: "internal/replica", forbidden: []string{"internal/broker", "internal/server"},
		why: "replica sits between broker and storage"},
	{from: "internal/broker", forbidden: []string{"internal/server", "internal/node", "internal/cli"},
		why: "the broker's handlers sit below the listeners"},
	// eddy serve runs a node (cmd/eddy stays thin and hands over to
	// internal/cli), eddy storage works on a stopped node's data directory
	// through it; clienttest and integration tests start one to test
	// against.
	{from: "internal", forbidden: []string{"internal/node", "cmd"},
		except:   []string{"internal/cli/serve", "internal/cli/storage", "internal/cli/client/clienttest"},
		testsMay: true, why: "only the binary assembles a node"},
	{from: "internal/cli", forbidden: internals,
		why: "the CLI is a Kafka client, like a user's program"},
}

// under reports whether pkg is root or inside it.
func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// check returns the rules that forbid package pkg (module-relative) to
// import imp (a full import path) in a test file (test) or not.
func check(pkg, imp string, test bool) []rule {
	rel, ok := strings.CutPrefix(imp, module)
	if !ok {
		return nil
	}
	var broken []rule
	for _, r := range rules {
		exempt := slices.ContainsFunc(r.except, func(e string) bool { return under(pkg, e) })
		if !under(pkg, r.from) || exempt || r.testsMay && test || under(rel, pkg) {
			continue
		}
		if slices.ContainsFunc(r.forbidden, func(f string) bool { return under(rel, f) }) {
			broken = append(broken, r)
		}
	}
	return broken
}

func TestCheckRules(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		test     bool
		bad      bool
	}{
		{"internal/meta", module + "internal/storage", false, true},
		{"internal/meta", module + "internal/config", false, false},
		{"internal/meta", "github.com/twmb/franz-go/pkg/kmsg", false, false},
		{"internal/storage", module + "internal/meta", false, true},
		{"internal/storage", module + "internal/record", false, false},
		{"internal/config", module + "internal/meta", false, true},
		{"internal/config", module + "internal/storage", false, false},
		{"internal/broker", module + "internal/server", false, true},
		{"internal/broker", module + "internal/controller", false, false},
		{"internal/replica", module + "internal/broker", false, true},
		{"internal/controller", module + "internal/broker", false, true},
		{"internal/controller", module + "internal/meta", false, false},
		{"internal/controller", module + "internal/storage", false, true},
		{"internal/server", module + "internal/node", false, true},
		{"internal/storage", module + "cmd/eddy", false, true},
		{"internal/cli/serve", module + "internal/node", false, false},
		{"internal/quorum", module + "internal/meta", false, true},
		{"internal/meta", module + "internal/quorum", true, false},
		{"internal/netfault", module + "internal/record", false, true},
		{"internal/cli/topic", module + "internal/cli/client", false, false},
		{"internal/cli/topic", module + "internal/meta", false, true},
		{"internal/cli/client", module + "internal/broker", false, true},
		{"internal/metadata", module + "internal/storage", false, false}, // a prefix is not a parent
		{"cmd/eddy", module + "internal/node", false, false},
		{"internal/server", module + "internal/node", true, false},
		{"internal/meta", module + "internal/storage", true, true},
	} {
		if got := len(check(tc.pkg, tc.imp, tc.test)) > 0; got != tc.bad {
			t.Errorf("%s importing %s (test %v): broken %v, want %v", tc.pkg, tc.imp, tc.test, got, tc.bad)
		}
	}
}

// TestLayers parses the imports of every Go file of the module, tests
// included, and reports each one a rule forbids.
func TestLayers(t *testing.T) {
	root := moduleRoot(t)
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		files++
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, imp := range fileImports(t, p) {
			for _, r := range check(filepath.ToSlash(rel), imp, strings.HasSuffix(p, "_test.go")) {
				t.Errorf("%s imports %s: %s", filepath.Join(rel, filepath.Base(p)), imp, r.why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("found only %d Go files under %s", files, root)
	}
}

func fileImports(t *testing.T, file string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, p)
	}
	return out
}

// moduleRoot is the directory holding go.mod, two levels up from here.
func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs(path.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", dir, err)
	}
	return dir
}
