package bench

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		line string
		want float64
		ok   bool
	}{
		{"1234 (eddy) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n", 3.25, true},
		// A name with spaces and a ')' of its own.
		{"7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0", 0.03, true},
		{"7 (eddy) S 1 7 7 0 -1 0 0 0 0 0 1", 0, false},
		{"7 eddy S 1 7 7 0 -1 0 0 0 0 0 1 2", 0, false},
		{"7 (eddy) S 1 7 7 0 -1 0 0 0 0 0 x 2 0", 0, false},
		{"", 0, false},
	} {
		got, err := parseStatCPU([]byte(tc.line))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, ok %v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

func TestReadCPUSecondsSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn a little CPU so a tick or more is on the books.
	before, err := readCPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 200_000_000 {
		x ^= i
	}
	after, err := readCPUSeconds(os.Getpid())
	if err != nil || after <= before {
		t.Fatalf("CPU seconds %v then %v (err %v, x %d)", before, after, err, x)
	}
}
