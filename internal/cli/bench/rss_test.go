package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		bad      bool
	}{
		{name: "typical", in: "Name:\teddy\nVmPeak:\t  800000 kB\nVmRSS:\t   23456 kB\nRssAnon:\t 1 kB\n", want: 23456 << 10},
		{name: "zero", in: "VmRSS:\t0 kB\n", want: 0},
		{name: "missing", in: "Name:\tkthreadd\nState:\tS (sleeping)\n", bad: true},
		{name: "no unit", in: "VmRSS:\t123\n", bad: true},
		{name: "wrong unit", in: "VmRSS:\t123 MB\n", bad: true},
		{name: "not a number", in: "VmRSS:\tlots kB\n", bad: true},
		{name: "negative", in: "VmRSS:\t-5 kB\n", bad: true},
		{name: "empty", in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(strings.NewReader(tt.in))
			if tt.bad != (err != nil) || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, bad=%v", got, err, tt.want, tt.bad)
			}
		})
	}
}

func TestReadRSSSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	n, err := readRSS(os.Getpid())
	if err != nil || n <= 0 {
		t.Fatalf("readRSS(self) = %d, %v", n, err)
	}
}
