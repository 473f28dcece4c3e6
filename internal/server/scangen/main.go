// Command scangen writes scantable.go, the wire schema of every Kafka
// request that internal/server's pre-decode scan walks. It reads the
// protocol definitions franz-go generates kmsg from (the DSL in its
// generate/definitions directory), so the table follows kmsg's field
// order, versions, nullability and tagged fields. Run it with go generate
// in internal/server; see the header of scantable.go.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A typ is one field's wire type. Arrays have an elem; structs a strct
// (after resolve, for named structs); nullFrom is the first version where
// the value may be null, -1 if never.
type typ struct {
	kind     string // a primitive name, "string", "bytes", "array" or "struct"
	nullFrom int
	elem     *typ
	strct    *strct
	named    string // a named struct, resolved into strct
}

type field struct {
	name       string
	typ        *typ
	minV, maxV int // maxV -1: no upper bound
	tag        int // -1: in the body
}

type strct struct {
	name   string
	fields []*field
	index  int
}

type request struct {
	key, maxVersion, flexibleFrom int
	root                          *strct
}

var (
	versionRe  = regexp.MustCompile(`^v(\d+)(\+|-v(\d+))$`)
	headerRe   = regexp.MustCompile(`^([A-Za-z0-9]+) => ?(.*)$`)
	enumRe     = regexp.MustCompile(`^([A-Za-z0-9]+) ([a-z0-9]+)( camelcase)? \($`)
	nullableRe = regexp.MustCompile(`^nullable-v(\d+)\+`)
	fixed      = map[string]bool{"bool": true, "int8": true, "int16": true, "uint16": true, "int32": true, "int64": true, "float64": true, "uint32": true, "uuid": true}
)

func main() {
	out := flag.String("o", "scantable.go", "output file")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: scangen [-o scantable.go] <franz-go generate/definitions directory>")
	}
	p := &parser{enums: map[string]string{}, named: map[string]*strct{}}
	if err := p.parseDir(flag.Arg(0)); err != nil {
		log.Fatal(err)
	}
	src, err := format.Source(p.emit())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

type parser struct {
	enums    map[string]string
	named    map[string]*strct
	requests []request
	structs  []*strct
}

func (p *parser) parseDir(dir string) error {
	if err := p.parseEnums(filepath.Join(dir, "enums")); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if base := filepath.Base(f); base == "enums" || strings.HasPrefix(base, ".") {
			continue
		}
		if err := p.parseFile(f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	sort.Slice(p.requests, func(i, j int) bool { return p.requests[i].key < p.requests[j].key })
	for _, s := range p.structs {
		for _, f := range s.fields {
			if err := p.resolve(f.typ); err != nil {
				return fmt.Errorf("%s.%s: %w", s.name, f.name, err)
			}
		}
	}
	return nil
}

func (p *parser) resolve(t *typ) error {
	switch {
	case t.elem != nil:
		return p.resolve(t.elem)
	case t.named != "":
		s, ok := p.named[t.named]
		if !ok {
			return fmt.Errorf("unknown type %q", t.named)
		}
		t.strct = s
	}
	return nil
}

func (p *parser) parseEnums(path string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if m := enumRe.FindStringSubmatch(l); m != nil {
			p.enums[m[1]] = m[2]
		}
	}
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), " \t"))
	}
	return lines, sc.Err()
}

// parseFile reads the requests and named "not top level" structs of one
// definitions file; responses are skipped (the server never decodes one).
func (p *parser) parseFile(path string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	var stack []*strct // stack[d] holds the fields indented 2(d+1) spaces
	for i, l := range lines {
		body := strings.TrimSpace(l)
		if body == "" || strings.HasPrefix(body, "//") {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if indent == 0 {
			stack = p.header(body)
			continue
		}
		if stack == nil {
			continue // a response, or a struct without encoding
		}
		depth := indent/2 - 1
		if indent%2 != 0 || depth >= len(stack) {
			return fmt.Errorf("line %d: bad indentation", i+1)
		}
		stack = stack[:depth+1]
		f, inner, err := p.parseField(body)
		if err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		stack[depth].fields = append(stack[depth].fields, f)
		if inner != nil {
			stack = append(stack, inner)
		}
	}
	return nil
}

// header starts a top-level struct, returning the stack its fields go to,
// nil for one the scan does not need.
func (p *parser) header(line string) []*strct {
	m := headerRe.FindStringSubmatch(line)
	if m == nil {
		log.Fatalf("bad top-level line %q", line)
	}
	name, mods := m[1], strings.Split(m[2], ", ")
	s := p.newStruct(name)
	switch {
	case strings.HasSuffix(name, "Request") && strings.HasPrefix(mods[0], "key "):
		r := request{root: s, flexibleFrom: -1}
		for _, mod := range mods {
			switch {
			case strings.HasPrefix(mod, "key "):
				r.key = atoi(strings.TrimPrefix(mod, "key "))
			case strings.HasPrefix(mod, "max version "):
				r.maxVersion = atoi(strings.TrimPrefix(mod, "max version "))
			case strings.HasPrefix(mod, "flexible v"):
				r.flexibleFrom = atoi(strings.TrimSuffix(strings.TrimPrefix(mod, "flexible v"), "+"))
			}
		}
		p.requests = append(p.requests, r)
	case mods[0] == "not top level":
		p.named[name] = s
	default:
		p.structs = p.structs[:len(p.structs)-1] // a response
		return nil
	}
	return []*strct{s}
}

func (p *parser) newStruct(name string) *strct {
	s := &strct{name: name, index: len(p.structs)}
	p.structs = append(p.structs, s)
	return s
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		log.Fatalf("bad number %q", s)
	}
	return n
}

// parseField parses "Name: type // v1+, tag 0" (or one of the special
// TimeoutMillis and ThrottleMillis fields), returning the anonymous struct
// its following lines define, if any.
func (p *parser) parseField(line string) (*field, *strct, error) {
	decl, comment, _ := strings.Cut(line, "//")
	f := &field{minV: 0, maxV: -1, tag: -1}
	if err := f.parseVersions(strings.TrimSpace(comment)); err != nil {
		return nil, nil, err
	}
	name, typeText, ok := strings.Cut(strings.TrimSpace(decl), ":")
	if !ok { // TimeoutMillis(15000), ThrottleMillis(6): an int32
		name, _, _ = strings.Cut(name, "(")
		if name != "TimeoutMillis" && name != "ThrottleMillis" {
			return nil, nil, fmt.Errorf("no type in %q", line)
		}
		typeText = "int32"
	}
	f.name = name
	t, inner, err := p.parseType(strings.TrimSpace(typeText), name)
	if err != nil { // fatal only if a request uses it (see emit)
		t, inner = &typ{kind: "unsupported: " + err.Error()}, &strct{name: name}
	}
	f.typ = t
	return f, inner, nil
}

func (f *field) parseVersions(comment string) error {
	if comment == "" {
		return nil
	}
	for part := range strings.SplitSeq(comment, ",") {
		part = strings.TrimSpace(part)
		if tag, ok := strings.CutPrefix(part, "tag "); ok {
			f.tag = atoi(tag)
			continue
		}
		m := versionRe.FindStringSubmatch(part)
		if m == nil {
			return fmt.Errorf("bad version comment %q", comment)
		}
		f.minV = atoi(m[1])
		if m[3] != "" {
			f.maxV = atoi(m[3])
		}
	}
	if f.tag >= 0 && (f.minV != 0 || f.maxV != -1) {
		return fmt.Errorf("versioned tagged field %q: kmsg would read it in the body too", comment)
	}
	return nil
}

var defaultRe = regexp.MustCompile(`\([^()]*\)$`)

func (p *parser) parseType(text, fieldName string) (*typ, *strct, error) {
	text = defaultRe.ReplaceAllString(text, "")
	t := &typ{nullFrom: -1}
	if m := nullableRe.FindStringSubmatch(text); m != nil && strings.HasPrefix(text[len(m[0]):], "[") {
		t.nullFrom, text = atoi(m[1]), text[len(m[0]):]
	} else if rest, ok := strings.CutPrefix(text, "nullable["); ok {
		t.nullFrom, text = 0, "["+rest
	}
	switch {
	case text == "=>" || text == "nullable=>":
		if text == "nullable=>" {
			t.nullFrom = 0
		}
		t.kind, t.strct = "struct", p.newStruct(fieldName)
		return t, t.strct, nil
	case strings.HasPrefix(text, "["):
		end := strings.Index(text, "]")
		if end < 0 {
			return nil, nil, fmt.Errorf("unclosed array %q", text)
		}
		t.kind = "array"
		inner := text[1:end]
		if strings.HasPrefix(inner, "=>") {
			t.elem = &typ{kind: "struct", nullFrom: -1, strct: p.newStruct(fieldName)}
			return t, t.elem.strct, nil
		}
		elem, _, err := p.parseType(inner, fieldName)
		if err != nil || elem.kind == "array" || elem.nullFrom >= 0 || elem.kind == "bytes" {
			return nil, nil, fmt.Errorf("unsupported array element %q (%v)", inner, err)
		}
		t.elem = elem
		return t, nil, nil
	}
	return t, nil, p.parseScalar(t, text)
}

func (p *parser) parseScalar(t *typ, text string) error {
	if rest, ok := strings.CutPrefix(text, "nullable-string-v"); ok {
		t.kind, t.nullFrom = "string", atoi(strings.TrimSuffix(rest, "+"))
		return nil
	}
	if enum, ok := strings.CutPrefix(text, "enum-"); ok {
		text = p.enums[enum]
	}
	switch {
	case text == "string" || text == "bytes":
		t.kind = text
	case text == "nullable-string" || text == "nullable-bytes":
		t.kind, t.nullFrom = strings.TrimPrefix(text, "nullable-"), 0
	case fixed[text]:
		t.kind = text
	case text != "" && text[0] >= 'A' && text[0] <= 'Z':
		t.kind, t.named = "struct", text
	default:
		return fmt.Errorf("unsupported type %q", text)
	}
	return nil
}

var kindNames = map[string]string{
	"bool": "wireBool", "int8": "wireInt8", "int16": "wireInt16", "uint16": "wireUint16",
	"int32": "wireInt32", "int64": "wireInt64", "float64": "wireFloat64", "uint32": "wireUint32",
	"uuid": "wireUUID", "string": "wireString", "bytes": "wireBytes", "array": "wireArray", "struct": "wireStruct",
}

// emit writes the table: the structs reachable from requests, numbered in
// the order a walk from each request meets them.
func (p *parser) emit() []byte {
	var order []*strct
	seen := map[*strct]int{}
	var visit func(s *strct)
	visit = func(s *strct) {
		if _, ok := seen[s]; ok {
			return
		}
		seen[s] = len(order)
		order = append(order, s)
		for _, f := range s.fields {
			if t := f.typ; t.strct != nil {
				visit(t.strct)
			} else if t.elem != nil && t.elem.strct != nil {
				visit(t.elem.strct)
			}
		}
	}
	var b strings.Builder
	b.WriteString(`// Code generated by scangen from franz-go's protocol definitions; DO NOT EDIT.
//
// Regenerate in internal/server with "go generate", which runs:
//
//	go run ./scangen -o scantable.go "$(go list -m -f '{{.Dir}}' github.com/twmb/franz-go)/generate/definitions"
//
// (the franz-go module of go.mod, whose definitions kmsg is generated from).

package server

var scanRequests = []scanRequest{
`)
	for _, r := range p.requests {
		visit(r.root)
		fmt.Fprintf(&b, "{key: %d, maxVersion: %d, flexibleFrom: %d, root: %d}, // %s\n", r.key, r.maxVersion, r.flexibleFrom, seen[r.root], r.root.name)
	}
	b.WriteString("}\n\nvar scanStructs = []scanStruct{\n")
	for i, s := range order {
		fmt.Fprintf(&b, "{ // %d\nname: %q, fields: []scanField{\n", i, s.name)
		for _, f := range s.fields {
			t, elem, sub := f.typ, "0", -1
			if kindNames[t.kind] == "" || t.elem != nil && kindNames[t.elem.kind] == "" {
				log.Fatalf("%s.%s: %s", s.name, f.name, t.kind)
			}
			if t.elem != nil {
				elem = kindNames[t.elem.kind]
				if t.elem.strct != nil {
					sub = seen[t.elem.strct]
				}
			} else if t.strct != nil {
				sub = seen[t.strct]
			}
			fmt.Fprintf(&b, "{name: %q, kind: %s, minV: %d, maxV: %d, nullFrom: %d, tag: %d, elem: %s, strct: %d},\n",
				f.name, kindNames[t.kind], f.minV, f.maxV, t.nullFrom, f.tag, elem, sub)
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
