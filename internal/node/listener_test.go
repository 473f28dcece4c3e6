package node_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListenerSurvivesFDExhaustion runs a node limited to 64 open files,
// opens connections until it can accept no more, and checks that readyz
// says so, then that the listener serves new clients again once those
// connections close (it used to die on "accept: too many open files"
// while readyz kept answering ok).
func TestListenerSurvivesFDExhaustion(t *testing.T) {
	cn := startProcess(t, 64, map[string]string{"offsets.topic.num.partitions": "1"})
	// One kept-alive HTTP connection, opened now, lets readyz be asked
	// while the node has no descriptor left for a new one.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	if code := readyz(t, hc, cn.http); code != http.StatusOK {
		t.Fatalf("readyz before the attack: %d", code)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < 200 {
		c, err := net.Dial("tcp", cn.kafka)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if !apiVersionsAnswered(c, 2*time.Second) {
			break // accepted by the kernel, never by the node
		}
	}
	if len(conns) == 200 {
		t.Fatal("200 connections served under a limit of 64 open files")
	}
	waitFor(t, "readyz to report the failing listener", func() bool {
		return readyz(t, hc, cn.http) == http.StatusServiceUnavailable
	})
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitFor(t, "readyz to recover", func() bool { return readyz(t, hc, cn.http) == http.StatusOK })
	for range 3 {
		c, err := net.Dial("tcp", cn.kafka)
		if err != nil {
			t.Fatal(err)
		}
		if !apiVersionsAnswered(c, 10*time.Second) {
			t.Fatal("a new client is not served after the descriptors came back")
		}
		c.Close()
	}
	if !strings.Contains(cn.logs.String(), "accepting kafka connection failed") {
		t.Error("no log line about the failing accept")
	}
}

func readyz(t *testing.T, hc *http.Client, addr string) int {
	t.Helper()
	resp, err := hc.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// apiVersionsAnswered sends ApiVersions v0 on c and reports whether an
// answer came within d.
func apiVersionsAnswered(c net.Conn, d time.Duration) bool {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(frame(kmsg.ApiVersions.Int16(), 0, nil)); err != nil {
		return false
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:])))
	return err == nil
}
