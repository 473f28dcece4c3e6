package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel
// exports them in USER_HZ, which is 100 on every Linux architecture Go
// supports; reading it with sysconf(_SC_CLK_TCK) would need cgo.
const userHZ = 100

// readCPUSeconds returns the CPU time (user + system) process pid has used.
func readCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading broker CPU time: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU returns utime + stime (fields 14 and 15) of a /proc/PID/stat
// line, in seconds. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// ')'.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat line %q", b)
	}
	// After the name: state (field 3), ..., utime (14), stime (15).
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed /proc stat line %q", b)
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat line %q", b)
		}
		ticks += n
	}
	return float64(ticks) / userHZ, nil
}

// cpuMeter reads a broker's CPU time around a phase; pid 0 measures
// nothing, for a broker that is not a local process (or is kfake).
type cpuMeter struct {
	pid int
}

// measure runs phase and returns the broker CPU seconds it took.
func (m cpuMeter) measure(phase func() error) (float64, error) {
	if m.pid == 0 {
		return 0, phase()
	}
	before, err := readCPUSeconds(m.pid)
	if err != nil {
		return 0, err
	}
	if err := phase(); err != nil {
		return 0, err
	}
	after, err := readCPUSeconds(m.pid)
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// perGB returns CPU seconds per 10^9 bytes, zero when nothing was measured.
func perGB(cpuSeconds float64, bytes int64) float64 {
	if bytes == 0 {
		return 0
	}
	return cpuSeconds / (float64(bytes) / 1e9)
}
