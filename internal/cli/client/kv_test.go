package client

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseKVs(t *testing.T) {
	tests := []struct {
		in      []string
		want    []KV
		wantErr bool
	}{
		{in: nil, want: []KV{}},
		{in: []string{"a=1", "b=x=y", "c=", "d=1,2"}, want: []KV{{"a", "1"}, {"b", "x=y"}, {"c", ""}, {"d", "1,2"}}},
		{in: []string{"novalue"}, wantErr: true},
		{in: []string{"=v"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseKVs("config", tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseKVs(%q) = %v, %v; want %v (err %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBrokerError(t *testing.T) {
	tests := []struct {
		err  error
		msg  string
		want string
	}{
		{err: nil, msg: "x", want: ""},
		{err: kerr.InvalidConfig, msg: "", want: kerr.InvalidConfig.Error()},
		{err: kerr.InvalidConfig, msg: "bad retention.ms", want: kerr.InvalidConfig.Error() + " (broker: bad retention.ms)"},
	}
	for _, tt := range tests {
		got := BrokerError(tt.err, tt.msg)
		if tt.err == nil {
			if got != nil {
				t.Errorf("BrokerError(nil) = %v", got)
			}
			continue
		}
		if got.Error() != tt.want || !errors.Is(got, tt.err) {
			t.Errorf("BrokerError(%v, %q) = %v, want %q wrapping the code", tt.err, tt.msg, got, tt.want)
		}
	}
}
