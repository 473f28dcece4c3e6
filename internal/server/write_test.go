package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func TestAppendLength(t *testing.T) {
	for _, tc := range []struct {
		n        int64
		flexible bool
		want     []byte
	}{
		{0, false, []byte{0, 0, 0, 0}},
		{300, false, []byte{0, 0, 1, 44}},
		{1<<31 - 1, false, []byte{0x7f, 0xff, 0xff, 0xff}},
		{0, true, []byte{1}},
		{126, true, []byte{127}},
		{127, true, []byte{0x80, 1}},
		{16383, true, []byte{0x80, 0x80, 1}},
	} {
		if got := appendLength([]byte{9}, tc.n, tc.flexible); !bytes.Equal(got, append([]byte{9}, tc.want...)) {
			t.Errorf("appendLength(%d, flexible=%v) = %x, want 09%x", tc.n, tc.flexible, got, tc.want)
		}
	}
}

// chunkSpec is a byte range of one of the test files.
type chunkSpec struct {
	file     int
	pos, len int64
}

// TestSplice builds fetch responses whose record sets are splice markers,
// splices file chunks in, and checks that the reassembled frame is exactly
// what kmsg encodes with the records inlined, and decodes back to them.
func TestSplice(t *testing.T) {
	files := spliceFiles(t, 2, 20000)
	// Each row is a list of partitions; a nil entry is a partition with
	// an empty record set, which is never spliced.
	rows := []struct {
		name  string
		parts [][]chunkSpec
	}{
		{"no splices", [][]chunkSpec{nil, nil}},
		{"one splice", [][]chunkSpec{{{0, 0, 10}}}},
		{"one splice of several chunks, 2-byte varint", [][]chunkSpec{{{0, 3, 100}, {1, 5, 150}}}},
		{"one splice, 3-byte varint", [][]chunkSpec{{{1, 0, 20000}}}},
		{"several splices between plain partitions", [][]chunkSpec{
			{{0, 0, 10}}, nil, {{1, 0, 300}}, {{0, 10, 20}, {0, 40, 5}}, nil,
		}},
	}
	for _, version := range []int16{4, 11, 12, 13, 16} {
		for _, row := range rows {
			t.Run(fmt.Sprintf("v%d/%s", version, row.name), func(t *testing.T) {
				testSplice(t, version, files, row.parts)
			})
		}
	}
}

func testSplice(t *testing.T, version int16, files []*os.File, specs [][]chunkSpec) {
	spliced, want := kmsg.NewPtrFetchResponse(), kmsg.NewPtrFetchResponse()
	spliced.SetVersion(version)
	want.SetVersion(version)
	var splices []broker.Splice
	for i, spec := range specs {
		// Two topics, so splices cross topic boundaries too.
		ti := i % 2
		for len(spliced.Topics) <= ti {
			topic := kmsg.NewFetchResponseTopic()
			topic.Topic = fmt.Sprintf("topic-%d", len(spliced.Topics))
			topic.TopicID[0] = byte(len(spliced.Topics) + 1)
			spliced.Topics = append(spliced.Topics, topic)
			want.Topics = append(want.Topics, topic)
		}
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		p.HighWatermark = 1000 + int64(i)
		p.RecordBatches = []byte{}
		wp := p
		if spec != nil {
			marker := []byte(fmt.Sprintf("\x00EDDYSPLICE\x00%04d", i))
			chunks, data := spliceChunks(t, files, spec)
			p.RecordBatches, wp.RecordBatches = marker, data
			splices = append(splices, broker.Splice{Marker: marker, Chunks: chunks})
		}
		spliced.Topics[ti].Partitions = append(spliced.Topics[ti].Partitions, p)
		want.Topics[ti].Partitions = append(want.Topics[ti].Partitions, wp)
	}

	parts, err := splice(encodeResponse(spliced, 77), splices, spliced.IsFlexible())
	if err != nil {
		t.Fatalf("splice: %v", err)
	}
	if got, n := len(parts), 1+len(splices)+countChunks(splices); got != n {
		t.Errorf("%d parts, want %d", got, n)
	}
	frame := reassemble(t, parts)
	wantFrame := encodeResponse(want, 77)
	binary.BigEndian.PutUint32(wantFrame, uint32(len(wantFrame)-4))
	if !bytes.Equal(frame, wantFrame) {
		t.Fatalf("spliced frame\n%x\nwant\n%x", frame, wantFrame)
	}

	got := kmsg.NewPtrFetchResponse()
	got.SetVersion(version)
	body := frame[8:]
	if got.IsFlexible() {
		body = body[1:] // response header tags
	}
	if err := got.ReadFrom(body); err != nil {
		t.Fatalf("decoding spliced frame: %v", err)
	}
	for ti := range want.Topics {
		for pi, wp := range want.Topics[ti].Partitions {
			if gp := got.Topics[ti].Partitions[pi]; !bytes.Equal(gp.RecordBatches, wp.RecordBatches) || gp.HighWatermark != wp.HighWatermark {
				t.Errorf("topic %d partition %d: decoded %d record bytes (hwm %d), want %d (hwm %d)",
					ti, pi, len(gp.RecordBatches), gp.HighWatermark, len(wp.RecordBatches), wp.HighWatermark)
			}
		}
	}
}

// TestSpliceErrors checks that a marker splice cannot place is an error,
// not a panic or a corrupt frame.
func TestSpliceErrors(t *testing.T) {
	files := spliceFiles(t, 1, 100)
	chunks := []storage.Chunk{{File: files[0], Pos: 0, Len: 10}}
	m1, m2 := []byte("\x00EDDYSPLICE\x00one"), []byte("\x00EDDYSPLICE\x00two")
	resp := func(markers ...[]byte) []byte {
		r := kmsg.NewPtrFetchResponse()
		r.SetVersion(12)
		topic := kmsg.NewFetchResponseTopic()
		topic.Topic = "t"
		for i, m := range markers {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.RecordBatches = int32(i), m
			topic.Partitions = append(topic.Partitions, p)
		}
		r.Topics = append(r.Topics, topic)
		return encodeResponse(r, 1)
	}
	for _, tc := range []struct {
		name     string
		buf      []byte
		splices  []broker.Splice
		flexible bool
	}{
		{"marker missing", resp(m1), []broker.Splice{{Marker: m2, Chunks: chunks}}, true},
		{"markers out of order", resp(m2, m1), []broker.Splice{{Marker: m1, Chunks: chunks}, {Marker: m2, Chunks: chunks}}, true},
		{"same marker twice", resp(m1), []broker.Splice{{Marker: m1, Chunks: chunks}, {Marker: m1, Chunks: chunks}}, true},
		{"no room for a classic length", append([]byte{0, 0}, m1...), []broker.Splice{{Marker: m1}}, false},
		{"no room for a flexible length", m1, []broker.Splice{{Marker: m1}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if parts, err := splice(tc.buf, tc.splices, tc.flexible); err == nil {
				t.Fatalf("splice succeeded with %d parts, want an error", len(parts))
			}
		})
	}
}

// encodeResponse encodes resp as conn.write does: four bytes reserved for
// the size, the correlation id, header tags if flexible, then the body.
func encodeResponse(resp kmsg.Response, correlationID int32) []byte {
	buf := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(correlationID))
	if resp.IsFlexible() {
		buf = append(buf, 0)
	}
	return resp.AppendTo(buf)
}

// spliceFiles writes n temp files of size bytes each, with a byte pattern
// that differs between files and along each file, and opens them.
func spliceFiles(t *testing.T, n, size int) []*os.File {
	dir := t.TempDir()
	var files []*os.File
	for i := range n {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(j*7 + i*101)
		}
		path := filepath.Join(dir, fmt.Sprintf("segment-%d", i))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return files
}

// spliceChunks turns specs into chunks and the bytes they cover.
func spliceChunks(t *testing.T, files []*os.File, specs []chunkSpec) ([]storage.Chunk, []byte) {
	var chunks []storage.Chunk
	var data []byte
	for _, s := range specs {
		c := storage.Chunk{File: files[s.file], Pos: s.pos, Len: s.len}
		b, err := c.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		chunks, data = append(chunks, c), append(data, b...)
	}
	return chunks, data
}

func countChunks(splices []broker.Splice) int {
	n := 0
	for _, s := range splices {
		n += len(s.Chunks)
	}
	return n
}

// reassemble reads a frame's parts into one byte slice, checking that its
// size prefix counts the rest.
func reassemble(t *testing.T, parts []part) []byte {
	var frame []byte
	for _, p := range parts {
		if p.chunk.File == nil {
			frame = append(frame, p.bytes...)
			continue
		}
		b, err := io.ReadAll(io.NewSectionReader(p.chunk.File, p.chunk.Pos, p.chunk.Len))
		if err != nil {
			t.Fatal(err)
		}
		frame = append(frame, b...)
	}
	if len(frame) < 4 || int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
		t.Fatalf("frame of %d bytes has size prefix %x", len(frame), frame[:min(4, len(frame))])
	}
	return frame
}
