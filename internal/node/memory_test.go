package node_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The memory attacks of issue 8 run against an eddy process of their own,
// whose peak resident set (VmHWM) must stay under the documented bound
// (docs/architecture.md, "Limits").
const processBaseline = 64 << 20

// memoryBound is that bound: requests hold at most twice
// queued.max.request.bytes plus 64 kB per connection, which Go's
// collector (GOGC=100) lets grow to twice as much before collecting, its
// pacer up to 10% more while a collection runs behind, with freed pages
// returned to the system gradually: 2.5 times in all.
func memoryBound(queued, conns int64) int64 {
	return 5*(2*queued+conns<<16)/2 + processBaseline
}

// emptyNamesMetadata is a Metadata v4 request of about size bytes naming
// the empty topic over and over: tiny on the wire, 24 times larger decoded.
func emptyNamesMetadata(size int) []byte {
	n := (size - 20) / 2
	body := binary.BigEndian.AppendUint32(nil, uint32(n))
	body = append(body, make([]byte, 2*n)...)
	body = append(body, 1)
	return frame(kmsg.Metadata.Int16(), 4, body)
}

// TestMetadataOfManyEmptyNamesIsBounded sends the 4 MB and 8 MB requests
// that drove a node to 1 GB and 1.75 GB.
func TestMetadataOfManyEmptyNamesIsBounded(t *testing.T) {
	const queued = 256 << 20 // the default
	cn := startProcess(t, 0, map[string]string{"offsets.topic.num.partitions": "1"})
	for _, size := range []int{4 << 20, 8 << 20} {
		c, err := net.Dial("tcp", cn.kafka)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Write(emptyNamesMetadata(size)); err != nil {
			t.Fatal(err)
		}
		// Over a million topics: refused, the connection closed.
		if _, err := io.ReadFull(c, make([]byte, 4)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("%d-byte metadata request: want the connection closed, got %v", size, err)
		}
		c.Close()
		rss := cn.peakRSS(t)
		t.Logf("after a %d MB metadata request: peak RSS %d MB", size>>20, rss>>20)
		if bound := memoryBound(queued, 1); rss > bound {
			t.Fatalf("peak RSS %d MB over the %d MB bound", rss>>20, bound>>20)
		}
	}
	if !apiVersionsAnswered(dial(t, cn.kafka), 10*time.Second) {
		t.Fatal("node stopped answering")
	}
}

// TestHugeSizePrefixesAreBounded opens 20 connections that each announce a
// 100 MB frame and send one byte: the node must neither allocate those
// frames (2 GB before) nor keep the connections past the read timeout.
func TestHugeSizePrefixesAreBounded(t *testing.T) {
	const queued = 256 << 20
	cn := startProcess(t, 0, map[string]string{"offsets.topic.num.partitions": "1", "eddy.request.read.timeout.ms": "1000"})
	var conns []net.Conn
	for range 20 {
		c := dial(t, cn.kafka)
		conns = append(conns, c)
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, 100<<20), 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Every connection is closed once its frame is overdue, whether it was
	// reading or waiting for room in the pool.
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("stalled frame: want the connection closed, got %v", err)
		}
	}
	// Untouched pages of a never-filled frame are not resident, so the
	// heap's size, not the RSS, shows what was allocated.
	heap := cn.heapSys(t)
	t.Logf("20 connections announcing 100 MB frames: heap %d MB, peak RSS %d MB", heap>>20, cn.peakRSS(t)>>20)
	if bound := memoryBound(queued, 20); heap > bound {
		t.Fatalf("heap of %d MB over the %d MB bound", heap>>20, bound>>20)
	}
	if !apiVersionsAnswered(dial(t, cn.kafka), 10*time.Second) {
		t.Fatal("node stopped answering")
	}
}

// TestPipelinedFramesAreBounded has 20 connections each pipeline 8
// Metadata requests of 512 kB (12 MB each once decoded, 80 MB of frames in
// all) with a 64 MB budget: the node must queue them, not hold them all.
func TestPipelinedFramesAreBounded(t *testing.T) {
	const queued, conns, depth = 64 << 20, 20, 8
	cn := startProcess(t, 0, map[string]string{"offsets.topic.num.partitions": "1",
		"queued.max.request.bytes": strconv.Itoa(queued), "socket.request.max.bytes": "1048576"})
	req := emptyNamesMetadata(512 << 10)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pipeline(cn.kafka, req, depth)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rss := cn.peakRSS(t)
	t.Logf("%d connections × %d pipelined 512 kB metadata requests: peak RSS %d MB", conns, depth, rss>>20)
	if bound := memoryBound(queued, conns); rss > bound {
		t.Fatalf("peak RSS %d MB over the %d MB bound", rss>>20, bound>>20)
	}
}

// pipeline writes n copies of req on one connection and reads the n
// answers.
func pipeline(addr string, req []byte, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	go func() {
		for range n {
			if _, err := c.Write(req); err != nil {
				return
			}
		}
	}()
	for range n {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return err
		}
	}
	return nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
