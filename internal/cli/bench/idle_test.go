package bench

import (
	"bytes"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// fakeServeEnv makes the test binary act as "eddy serve": bench idle execs
// os.Args[0] with it set, and TestMain serves kfake on --kafka-addr until
// SIGTERM, so W5's harness is tested end to end without the real broker.
const fakeServeEnv = "EDDY_BENCH_FAKE_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeServeEnv) == "1" {
		os.Exit(fakeServe(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeServe(args []string) int {
	var port int
	for i, a := range args {
		if a == "--kafka-addr" && i+1 < len(args) {
			port, _ = strconv.Atoi(args[i+1][strings.LastIndexByte(args[i+1], ':')+1:])
		}
	}
	if len(args) == 0 || args[0] != "serve" || port == 0 {
		return 2
	}
	c, err := kfake.NewCluster(kfake.Ports(port))
	if err != nil {
		return 1
	}
	defer c.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}

func TestIdle(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	t.Setenv(fakeServeEnv, "1")
	r := runJSON[idleResult](t, "idle", "--binary", os.Args[0], "--settle", "300ms")
	if r.Bench != "idle" || r.StartMs <= 0 || r.RSSBytes <= 0 || r.RSSMB <= 0 {
		t.Fatalf("result %+v", r)
	}
	t.Logf("%s", r.line())
}

func TestIdleBinaryExits(t *testing.T) {
	// /bin/false exits at once: the run must fail, not hang.
	if _, err := os.Stat("/bin/false"); err != nil {
		t.Skip("no /bin/false")
	}
	cmd := Command()
	cmd.SetArgs([]string{"idle", "--binary", "/bin/false", "--timeout", "5s"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil {
		t.Fatal("want an error")
	}
}
