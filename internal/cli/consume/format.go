package consume

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// template is a compiled -f/--print-format: literal text and one-letter
// verbs, compiled once so that printing a record does no parsing.
type template []segment

// segment is either literal text (verb == 0) or a verb.
type segment struct {
	verb    byte
	literal string
}

// verbs lists what each %-verb prints; the help text is built from it.
var verbs = []struct {
	verb byte
	what string
}{
	{'t', "topic"},
	{'p', "partition"},
	{'o', "offset"},
	{'k', "key (empty if null)"},
	{'v', "value (empty if null)"},
	{'h', "headers as k1=v1,k2=v2"},
	{'T', "timestamp in Unix milliseconds"},
	{'%', "a literal %"},
}

// escapes maps the letter after a backslash to the byte it stands for.
var escapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '\\': '\\'}

// parseTemplate compiles s. Besides the verbs, \n, \t, \r and \\ are
// unescaped so that shells need no $'...' quoting.
func parseTemplate(s string) (template, error) {
	var (
		t   template
		lit []byte
	)
	flush := func() {
		if len(lit) > 0 {
			t = append(t, segment{literal: string(lit)})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit = append(lit, c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("invalid --print-format %q: dangling %c at the end", s, c)
		}
		i++
		if c == '\\' {
			e, ok := escapes[s[i]]
			if !ok {
				return nil, fmt.Errorf(`invalid --print-format %q: unknown escape \%c`, s, s[i])
			}
			lit = append(lit, e)
			continue
		}
		if s[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		if !knownVerb(s[i]) {
			return nil, fmt.Errorf("invalid --print-format %q: unknown verb %%%c", s, s[i])
		}
		flush()
		t = append(t, segment{verb: s[i]})
	}
	flush()
	return t, nil
}

func knownVerb(v byte) bool {
	for _, k := range verbs {
		if k.verb == v {
			return true
		}
	}
	return false
}

// appendRecord appends r formatted by t to dst.
func (t template) appendRecord(dst []byte, r *kgo.Record) []byte {
	for _, s := range t {
		switch s.verb {
		case 0:
			dst = append(dst, s.literal...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'h':
			dst = appendHeaders(dst, r.Headers)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		}
	}
	return dst
}

func appendHeaders(dst []byte, hs []kgo.RecordHeader) []byte {
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, h.Key...)
		dst = append(dst, '=')
		dst = append(dst, h.Value...)
	}
	return dst
}
