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

// emptyTopicsDeleteRecords is a DeleteRecords v0 request naming n empty
// topics with no partitions: 6 bytes on the wire each, 48 once decoded.
func emptyTopicsDeleteRecords(n int) []byte {
	body := binary.BigEndian.AppendUint32(nil, uint32(n))
	body = append(body, make([]byte, 6*n)...)
	body = binary.BigEndian.AppendUint32(body, 1000) // timeout
	return frame(kmsg.DeleteRecords.Int16(), 0, body)
}

// TestEmptyElementsOfAnyAPIAreBounded has 10 connections each send a 5.7 MB
// DeleteRecords request of a million empty topics (within Kafka's array
// limit), 48 MB once decoded, to a node with a 16 MB budget: the node
// must learn that before decoding and refuse them, not decode them
// beyond its budget (before the scan, only Metadata was checked before
// decoding, and this peaked at 646 MB).
func TestEmptyElementsOfAnyAPIAreBounded(t *testing.T) {
	const queued, conns = 16 << 20, 10
	cn := startProcess(t, 0, map[string]string{"offsets.topic.num.partitions": "1",
		"queued.max.request.bytes": strconv.Itoa(queued), "socket.request.max.bytes": strconv.Itoa(8 << 20)})
	req := emptyTopicsDeleteRecords(999_999)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendRefused(cn.kafka, req)
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
	t.Logf("%d connections × a %d kB DeleteRecords of empty topics: peak RSS %d MB", conns, len(req)>>10, rss>>20)
	if bound := memoryBound(queued, conns); rss > bound {
		t.Fatalf("peak RSS %d MB over the %d MB bound", rss>>20, bound>>20)
	}
	if !apiVersionsAnswered(dial(t, cn.kafka), 10*time.Second) {
		t.Fatal("node stopped answering")
	}
}

// sendRefused writes req and expects the node to close the connection.
func sendRefused(addr string, req []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	go c.Write(req) // the node may close before reading it all
	if _, err := io.ReadFull(c, make([]byte, 4)); !errors.Is(err, io.EOF) && !isReset(err) {
		return errors.New("want the connection closed, got " + errString(err))
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "an answer"
	}
	return err.Error()
}
