package consume

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTemplate(t *testing.T) {
	rec := &kgo.Record{
		Topic: "orders", Partition: 3, Offset: 42,
		Key: []byte("k"), Value: []byte("v"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x=y")}},
		Timestamp: time.UnixMilli(1700000000123),
	}
	null := &kgo.Record{Topic: "t", Timestamp: time.UnixMilli(0)}
	tests := []struct {
		format  string
		rec     *kgo.Record
		want    string
		wantErr string
	}{
		{format: `%v\n`, rec: rec, want: "v\n"},
		{format: `%t %p %o %k %v %h %T`, rec: rec, want: "orders 3 42 k v a=1,b=x=y 1700000000123"},
		{format: `%k\t%v\r\n`, rec: rec, want: "k\tv\r\n"},
		{format: `100%% \\ %v`, rec: rec, want: `100% \ v`},
		{format: `plain`, rec: rec, want: "plain"},
		{format: ``, rec: rec, want: ""},
		{format: `[%k][%v][%h]`, rec: null, want: "[][][]"},
		{format: `%x`, wantErr: "unknown verb %x"},
		{format: `\q`, wantErr: `unknown escape \q`},
		{format: `%v%`, wantErr: "dangling %"},
		{format: `%v\`, wantErr: `dangling \`},
	}
	for _, tt := range tests {
		tmpl, err := parseTemplate(tt.format)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseTemplate(%q) error = %v, want %q", tt.format, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", tt.format, err)
			continue
		}
		if got := string(tmpl.appendRecord(nil, tt.rec)); got != tt.want {
			t.Errorf("%q on %v = %q, want %q", tt.format, tt.rec, got, tt.want)
		}
	}
}

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in      string
		want    kgo.Offset
		wantErr bool
	}{
		{in: "start", want: kgo.NewOffset().AtStart()},
		{in: "beginning", want: kgo.NewOffset().AtStart()},
		{in: "end", want: kgo.NewOffset().AtEnd()},
		{in: "0", want: kgo.NewOffset().At(0)},
		{in: "17", want: kgo.NewOffset().At(17)},
		{in: "-5", want: kgo.NewOffset().AtEnd().Relative(-5)},
		{in: "@1700000000000", want: kgo.NewOffset().AfterMilli(1700000000000)},
		{in: "@", wantErr: true},
		{in: "@-1", wantErr: true},
		{in: "@soon", wantErr: true},
		{in: "latest-ish", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseOffset(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseOffset(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseOffset(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
