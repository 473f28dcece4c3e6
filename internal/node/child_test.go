package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests that need a process of their own (a lowered file-descriptor limit,
// a memory measurement not blurred by the test binary) run the real eddy
// binary (eddyBinary, restart_test.go) with both listeners on free ports.

// childNode is an eddy serve process.
type childNode struct {
	cmd   *exec.Cmd
	kafka string
	http  string
	logs  *syncBuffer
	done  chan struct{} // closed once the process has exited
}

// startProcess runs eddy serve on free loopback ports with at most nofile
// open files (0: the inherited limit) and the given broker settings.
func startProcess(t *testing.T, nofile int, settings map[string]string) *childNode {
	t.Helper()
	args := []string{"serve", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--log-format", "json"}
	for k, v := range settings {
		args = append(args, "--set", k+"="+v)
	}
	bin := eddyBinary(t)
	cmd := exec.Command(bin, args...)
	if nofile > 0 {
		cmd = limitedCommand(nofile, bin, args...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cn := &childNode{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go cn.readLog(stderr, addrs)
	t.Cleanup(func() {
		cn.stop()
		if t.Failed() {
			t.Logf("child node log:\n%s", cn.logs.String())
		}
	})
	select {
	case a := <-addrs:
		cn.kafka, cn.http = a[0], a[1]
	case <-cn.done:
		t.Fatalf("eddy serve exited: %v", cmd.ProcessState)
	case <-time.After(60 * time.Second):
		t.Fatal("eddy serve did not start within 60s")
	}
	return cn
}

// readLog copies the child's log and reports its listener addresses.
func (cn *childNode) readLog(r io.Reader, addrs chan<- [2]string) {
	defer close(cn.done)
	defer cn.cmd.Wait()
	var http string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cn.logs.Write(append(sc.Bytes(), '\n'))
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if v, ok := m["http_addr"].(string); ok {
			http = v
		}
		if v, ok := m["kafka_addr"].(string); ok && m["msg"] == "eddy node started" {
			addrs <- [2]string{v, http}
		}
	}
	io.Copy(io.Discard, r)
}

func (cn *childNode) stop() {
	cn.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-cn.done:
	case <-time.After(20 * time.Second):
		cn.cmd.Process.Kill()
		<-cn.done
	}
}

// peakRSS is the child's peak resident set (VmHWM), in bytes.
func (cn *childNode) peakRSS(t *testing.T) int64 {
	return procStatus(t, cn.cmd.Process.Pid, "VmHWM:")
}

func procStatus(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("%s not in /proc/%d/status", key, pid)
	return 0
}

// heapSys is the child's HeapSys (heap memory obtained from the OS, which
// does not shrink), from its pprof endpoint.
func (cn *childNode) heapSys(t *testing.T) int64 {
	t.Helper()
	resp, err := http.Get("http://" + cn.http + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapSys = "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no HeapSys in the heap profile: %v", sc.Err())
	return 0
}
