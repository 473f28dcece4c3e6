package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snakeCase is what a log key must look like (STYLE.md 15); "err" is one.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestLogKeys type-checks every non-test package under internal/ and cmd/
// and checks each log call: a constant message, and constant snake_case
// keys, so that log lines can be searched and parsed by key. A log call is
// a call to anything whose parameters end in (msg string, args ...any):
// *slog.Logger's and slog's Debug/Info/Warn/Error/Log and their Context
// forms, and wrappers such as the server's rate-limited logger; also
// Logger.With, slog.Group and slog's Attr constructors (String, Int, ...),
// whose first argument is a key. A wrapper forwarding its own msg and
// args... is checked at its callers.
func TestLogKeys(t *testing.T) {
	root := moduleRoot(t)
	pkgs := listPackages(t, root)
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if f, ok := exports[path]; ok && f != "" {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})
	checked, calls := 0, 0
	for _, p := range pkgs {
		if p.Standard || !strings.HasPrefix(p.ImportPath, strings.TrimSuffix(module, "/")) {
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, module)
		if !strings.HasPrefix(rel, "internal/") && !strings.HasPrefix(rel, "cmd/") {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		if _, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		checked++
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					for _, problem := range checkLogCall(info, call, &calls) {
						pos := fset.Position(call.Pos())
						rel, _ := filepath.Rel(root, pos.Filename)
						t.Errorf("%s:%d: %s", rel, pos.Line, problem)
					}
				}
				return true
			})
		}
	}
	if checked < 20 || calls < 100 {
		t.Fatalf("checked only %d packages and %d log calls", checked, calls)
	}
}

type listedPackage struct {
	ImportPath, Dir, Export string
	GoFiles                 []string
	Standard                bool
}

// listPackages lists the module's commands and internal packages with
// their dependencies, each with its compiled export data for the
// importer.
func listPackages(t *testing.T, root string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Dir,Export,GoFiles,Standard", "./internal/...", "./cmd/...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
}

// checkLogCall returns what is wrong with call if it is a log call, and
// counts it.
func checkLogCall(info *types.Info, call *ast.CallExpr, calls *int) []string {
	sig, name := callee(info, call)
	if sig == nil {
		return nil
	}
	msg, kv := logParams(sig, name)
	if msg < 0 && kv < 0 {
		return nil
	}
	*calls++
	var problems []string
	if msg >= 0 && msg < len(call.Args) && !isConst(info, call.Args[msg]) && !forwarded(info, call, msg) {
		problems = append(problems, fmt.Sprintf("%s: the message is not a constant string", name))
	}
	if kv < 0 || call.Ellipsis.IsValid() {
		return problems // args... forwarded: checked where they are built
	}
	if name == "slog attribute" {
		return append(problems, checkKey(info, name, call.Args[kv])...)
	}
	for i := kv; i < len(call.Args); i++ {
		if isAttr(info, call.Args[i]) {
			continue
		}
		problems = append(problems, checkKey(info, name, call.Args[i])...)
		if i+1 == len(call.Args) {
			problems = append(problems, fmt.Sprintf("%s: key %s has no value", name, types.ExprString(call.Args[i])))
		}
		i++ // the value
	}
	return problems
}

// callee is the signature of the function call calls and a name for it.
func callee(info *types.Info, call *ast.CallExpr) (*types.Signature, string) {
	var id *ast.Ident
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
	default:
		return nil, ""
	}
	obj := info.Uses[id]
	if obj == nil {
		return nil, ""
	}
	sig, ok := obj.Type().Underlying().(*types.Signature)
	if !ok {
		return nil, ""
	}
	if fn, ok := obj.(*types.Func); ok && fn.Pkg() != nil && fn.Pkg().Path() == "log/slog" {
		switch fn.Name() {
		case "With":
			return sig, "slog With"
		case "Group":
			return sig, "slog Group"
		case "String", "Int", "Int64", "Uint64", "Float64", "Bool", "Time", "Duration", "Any":
			if sig.Recv() == nil {
				return sig, "slog attribute"
			}
		}
	}
	return sig, id.Name
}

// logParams is the index of the message and of the first key of a log
// call to sig, -1 for none; both -1 if it is not a log call.
func logParams(sig *types.Signature, name string) (msg, kv int) {
	switch name {
	case "slog With":
		return -1, 0
	case "slog Group":
		return -1, 1
	case "slog attribute":
		return -1, 0
	}
	ps := sig.Params()
	n := ps.Len()
	if !sig.Variadic() || n < 2 {
		return -1, -1
	}
	last, prev := ps.At(n-1), ps.At(n-2)
	if last.Name() != "args" || !types.Identical(last.Type(), types.NewSlice(types.NewInterfaceType(nil, nil))) ||
		prev.Name() != "msg" || !types.Identical(prev.Type(), types.Typ[types.String]) {
		return -1, -1
	}
	return n - 2, n - 1
}

func isConst(info *types.Info, e ast.Expr) bool {
	tv, ok := info.Types[e]
	return ok && tv.Value != nil && tv.Value.Kind() == constant.String
}

// forwarded reports whether the message is a wrapper's own msg
// parameter, passed on with its args...: its callers are checked.
func forwarded(info *types.Info, call *ast.CallExpr, msg int) bool {
	id, ok := call.Args[msg].(*ast.Ident)
	if !ok || !call.Ellipsis.IsValid() {
		return false
	}
	v, ok := info.Uses[id].(*types.Var)
	return ok && v.Name() == "msg" && !v.IsField()
}

func isAttr(info *types.Info, e ast.Expr) bool {
	named, ok := info.Types[e].Type.(*types.Named)
	return ok && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == "log/slog" && named.Obj().Name() == "Attr"
}

func checkKey(info *types.Info, name string, e ast.Expr) []string {
	tv, ok := info.Types[e]
	if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
		return []string{fmt.Sprintf("%s: key %s is not a constant string", name, types.ExprString(e))}
	}
	if key := constant.StringVal(tv.Value); !snakeCase.MatchString(key) {
		return []string{fmt.Sprintf("%s: key %q is not snake_case", name, key)}
	}
	return nil
}

// TestLogKeysCheck: the check itself, on calls it must pass and fail.
func TestLogKeysCheck(t *testing.T) {
	tests := []struct {
		call string
		want string // a problem's text, "" for none
	}{
		{`l.Info("started", "node_id", 1, "err", err)`, ""},
		{`l.Info("started: " + name)`, "the message is not a constant string"},
		{`l.Warn(name)`, "the message is not a constant string"},
		{`l.Info("started", "nodeID", 1)`, `key "nodeID" is not snake_case`},
		{`l.Info("started", name, 1)`, "key name is not a constant string"},
		{`l.Info("started", "node_id")`, `key "node_id" has no value`},
		{`l.Info("started", slog.Int("node_id", 1), "ok", true)`, ""},
		{`l.Info("started", slog.String("Node", "x"))`, `key "Node" is not snake_case`},
		{`l.Log(ctx, slog.LevelInfo, "started", "dataDir", "x")`, `key "dataDir" is not snake_case`},
		{`l.ErrorContext(ctx, name)`, "the message is not a constant string"},
		{`l.With("Node", 1)`, `key "Node" is not snake_case`},
		{`slog.Info("started", "node-id", 1)`, `key "node-id" is not snake_case`},
		{`slog.Group("quorum", "Leader", 1)`, `key "Leader" is not snake_case`},
		{`wrap("kind", name, "a", 1)`, "the message is not a constant string"},
		{`wrap("kind", "started", "a_b", 1)`, ""},
		{`forward("started", "ok", 1)`, ""},
		{`fmt.Sprintf(name, 1)`, ""}, // not a log call
	}
	for _, tt := range tests {
		src := `package p
import ("context"; "fmt"; "log/slog")
var _ = fmt.Sprint
func wrap(kind, msg string, args ...any) {}
func forward(msg string, args ...any) { var l *slog.Logger; l.Info(msg, args...) }
func f(ctx context.Context, l *slog.Logger, name string, err error) { ` + tt.call + ` }`
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "p.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		if _, err := (&types.Config{Importer: importer.Default()}).Check("p", fset, []*ast.File{f}, info); err != nil {
			t.Fatalf("%s: %v", tt.call, err)
		}
		var got []string
		calls := 0
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				got = append(got, checkLogCall(info, call, &calls)...)
			}
			return true
		})
		if tt.want == "" && len(got) > 0 || tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)) {
			t.Errorf("%s: problems %q, want %q", tt.call, got, tt.want)
		}
	}
}
