package server_test

// FuzzRequest drives the whole request path (frame reading, header, kmsg
// decoding, every broker handler, response encoding and splicing) of a
// real in-process node with arbitrary frames. It lives in the external test
// package because internal/node imports this package.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/node"
	"github.com/eddy-streaming/eddy/internal/server"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed-* files in testdata/fuzz")

const (
	fuzzTopic = "fuzz"
	// probeCorrelationID marks the ApiVersions request pipelined behind
	// each fuzz frame: its answer proves the frame was handled.
	probeCorrelationID = 0x7edd1e5
	// answerTimeout bounds how long one input may keep the broker busy.
	answerTimeout = 2 * time.Second
	// maxFuzzPartitions bounds the partitions one input may create; the
	// broker itself has no limit (see expensive).
	maxFuzzPartitions = 8
)

// FuzzRequest sends each input as one request frame to a running node. The
// broker must answer it or close the connection within answerTimeout, and
// keep answering other connections afterwards. A panic in a handler kills
// the process, which the fuzzer reports as a crash with the input.
func FuzzRequest(f *testing.F) {
	addr := startFuzzNode(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if reason := expensive(frame); reason != "" {
			t.Skip(reason)
		}
		exchangeFuzzFrame(t, addr, frame)
		checkAlive(t, addr)
	})
}

// startFuzzNode starts one node for the whole fuzz process (f.Fuzz runs
// every input against it) with a topic holding one batch, so Produce and
// Fetch reach the log.
func startFuzzNode(f *testing.F) string {
	n, err := node.Start(context.Background(), node.Config{
		DataDir:   f.TempDir(),
		KafkaAddr: "127.0.0.1:0",
		NodeID:    1,
		Settings:  map[string]string{"eddy.fsync.acks.all": "false"},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatalf("starting node: %v", err)
	}
	f.Cleanup(func() { n.Close() })
	addr := n.KafkaAddr()

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = fuzzTopic, 1, 1
	create.Topics = append(create.Topics, ct)
	created := kmsg.NewPtrCreateTopicsResponse()
	if err := roundTrip(addr, create, created); err != nil || created.Topics[0].ErrorCode != 0 {
		f.Fatalf("creating topic: %v %+v", err, created.Topics)
	}
	produce, produced := produceRequest(9, 1), kmsg.NewPtrProduceResponse()
	if err := roundTrip(addr, produce, produced); err != nil || produced.Topics[0].Partitions[0].ErrorCode != 0 {
		f.Fatalf("producing: %v %+v", err, produced.Topics)
	}
	return addr
}

// expensive names why an input is skipped: inputs that are slow by design
// rather than by a bug would drag the exec rate down or fill the disk.
func expensive(frame []byte) string {
	req, err := server.DecodeRequest(frame)
	if err != nil {
		return ""
	}
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		if r.MaxWaitMillis > 100 {
			return "long-poll fetch"
		}
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			if t.NumPartitions > maxFuzzPartitions || len(t.ReplicaAssignment) > maxFuzzPartitions {
				return "creates too many partitions"
			}
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			if t.Count > maxFuzzPartitions {
				return "creates too many partitions"
			}
		}
	}
	return ""
}

// exchangeFuzzFrame writes frame and, pipelined behind it, an ApiVersions
// probe; the broker handles a connection's requests in order, so the
// probe's answer or a closed connection means frame was dealt with. Produce
// with acks=0 gets no answer, which the probe also covers.
func exchangeFuzzFrame(t *testing.T, addr string, frame []byte) {
	c, err := net.DialTimeout("tcp", addr, answerTimeout)
	if err != nil {
		t.Fatalf("dialing broker: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(answerTimeout))
	out := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
	out = append(out, frame...)
	out = appendFrame(out, apiVersionsRequest(0), probeCorrelationID)
	if _, err := c.Write(out); err != nil {
		if isTimeout(err) {
			t.Fatalf("broker did not read the request within %v", answerTimeout)
		}
		return // closed on us: a fine answer to a bad frame
	}
	r := bufio.NewReader(c)
	for {
		corr, _, err := readFrame(r)
		if isTimeout(err) {
			t.Fatalf("broker neither answered nor closed within %v", answerTimeout)
		}
		if err != nil || corr == probeCorrelationID {
			return
		}
	}
}

// checkAlive checks that a new connection still gets ApiVersions answered.
func checkAlive(t *testing.T, addr string) {
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := roundTrip(addr, apiVersionsRequest(3), resp); err != nil {
		t.Fatalf("broker stopped answering after this input: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("broker answers ApiVersions with error %d and %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// roundTrip sends req on a new connection and decodes the answer into resp.
func roundTrip(addr string, req kmsg.Request, resp kmsg.Response) error {
	c, err := net.DialTimeout("tcp", addr, answerTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(answerTimeout))
	if _, err := c.Write(appendFrame(nil, req, 1)); err != nil {
		return err
	}
	corr, body, err := readFrame(bufio.NewReader(c))
	if err != nil {
		return err
	}
	if corr != 1 {
		return fmt.Errorf("answer has correlation id %d, want 1", corr)
	}
	resp.SetVersion(req.GetVersion())
	// ApiVersions answers use response header v0 at every version.
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		if len(body) == 0 || body[0] != 0 {
			return errors.New("flexible answer without an empty tag section")
		}
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

// readFrame reads one response frame, returning its correlation id and the
// bytes after it.
func readFrame(r io.Reader) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return 0, nil, fmt.Errorf("response frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// appendFrame appends req as a size-prefixed request frame.
func appendFrame(dst []byte, req kmsg.Request, correlationID int32) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, requestFrame(req, correlationID)...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// requestFrame encodes req as a frame without its size prefix: what the
// broker's frame reader hands to parseHeader.
func requestFrame(req kmsg.Request, correlationID int32) []byte {
	id := "eddy-fuzz"
	b := server.AppendRequestHeader(nil, req.Key(), req.GetVersion(), correlationID, &id, req.IsFlexible())
	return req.AppendTo(b)
}

// TestSeedCorpus keeps the seed-* files of both fuzz targets in step with
// seedFrames; -update-corpus rewrites them.
func TestSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzParseHeader", "FuzzRequest"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seedFrames() {
			path := filepath.Join(dir, "seed-"+s.name)
			want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s.frame)
			if *updateCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is missing or stale (%v); run go test -run TestSeedCorpus -update-corpus", path, err)
			}
		}
	}
}

type seedFrame struct {
	name  string
	frame []byte
}

// seedFrames are real client requests, plus mutations of them that take
// the broker's error paths.
func seedFrames() []seedFrame {
	var seeds []seedFrame
	add := func(name string, req kmsg.Request) {
		seeds = append(seeds, seedFrame{name, requestFrame(req, int32(len(seeds)+1))})
	}
	for _, v := range []int16{0, 1, 4, 9, 12, 13} {
		add(fmt.Sprintf("metadata-v%d", v), metadataRequest(v))
	}
	for _, v := range []int16{0, 3, 4} {
		add(fmt.Sprintf("apiversions-v%d", v), apiVersionsRequest(v))
	}
	add("produce-v3", produceRequest(3, -1))
	add("produce-v9", produceRequest(9, 1))
	add("produce-v9-acks0", produceRequest(9, 0))
	for _, v := range []int16{4, 12, 13} {
		add(fmt.Sprintf("fetch-v%d", v), fetchRequest(v))
	}
	for _, v := range []int16{0, 5} {
		add(fmt.Sprintf("createtopics-v%d", v), createTopicsRequest(v))
	}
	add("listoffsets-v7", listOffsetsRequest(7))
	add("describeconfigs-v4", describeConfigsRequest(4))
	initPID := kmsg.NewPtrInitProducerIDRequest()
	initPID.SetVersion(4)
	add("initproducerid-v4", initPID)
	add("describecluster-v0", kmsg.NewPtrDescribeClusterRequest())
	return append(seeds, mutatedFrames(seeds)...)
}

// mutatedFrames derives broken frames from the real ones in seeds.
func mutatedFrames(seeds []seedFrame) []seedFrame {
	frame := func(name string) []byte {
		for _, s := range seeds {
			if s.name == name {
				return bytes.Clone(s.frame)
			}
		}
		panic("no seed " + name)
	}
	withHeader := func(name string, key, version int16) []byte {
		b := frame(name)
		binary.BigEndian.PutUint16(b, uint16(key))
		binary.BigEndian.PutUint16(b[2:], uint16(version))
		return b
	}
	id := "x"
	meta12 := frame("metadata-v12")
	fetch12 := frame("fetch-v12")
	return []seedFrame{
		{"mut-short-header", frame("metadata-v12")[:9]},
		{"mut-truncated-body", meta12[:len(meta12)-3]},
		{"mut-unknown-key", withHeader("metadata-v1", 999, 0)},
		{"mut-negative-version", withHeader("metadata-v1", 3, -1)},
		{"mut-apiversions-v127", withHeader("apiversions-v3", 18, 127)},
		{"mut-metadata-v99", withHeader("metadata-v12", 3, 99)},
		{"mut-produce-v2-unsupported", withHeader("produce-v3", 0, 2)},
		{"mut-offsetcommit-not-served", withHeader("metadata-v1", 8, 2)},
		{"mut-client-id-too-long", append(server.AppendRequestHeader(nil, 3, 1, 5, &id, false)[:8], 0x7f, 0xff, 'x')},
		{"mut-bad-header-tags", append(server.AppendRequestHeader(nil, 3, 12, 5, &id, false), 1, 0, 100, 'x')},
		// Fetch v12's fixed fields take 25 bytes; then a compact topic
		// array claiming 2^28 topics.
		{"mut-fetch-huge-topic-count", append(fetch12[:len(fetch12)-len(fetchRequest(12).AppendTo(nil))+25], 0xff, 0xff, 0xff, 0x7f)},
		{"mut-corrupt-batch-crc", corruptBatch(frame("produce-v9"))},
	}
}

// corruptBatch flips a byte in the last record of a produce frame, which
// breaks the batch CRC.
func corruptBatch(frame []byte) []byte {
	i := bytes.LastIndex(frame, []byte("value"))
	frame[i] ^= 0xff
	return frame
}

func metadataRequest(v int16) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(v)
	if v != 1 { // v1 with null topics asks for every topic
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(fuzzTopic)
		req.Topics = append(req.Topics, t)
	}
	req.AllowAutoTopicCreation = false
	return req
}

func apiVersionsRequest(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "eddy-fuzz", "1.0.0"
	return req
}

func produceRequest(v, acks int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(v)
	req.Acks, req.TimeoutMillis = acks, 5000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = fuzzTopic
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = recordBatch("key", "value", "value-2")
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// recordBatch encodes an uncompressed, non-idempotent v2 record batch with
// one record per value, all with the same key.
func recordBatch(key string, values ...string) []byte {
	const ts = 1700000000000
	var records []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte(key), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero Length takes one varint byte
		records = r.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(values)), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

func fetchRequest(v int16) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(v)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 10, 1, 1<<20
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = fuzzTopic // v13+ name it by ID, which a seed cannot know
	p := kmsg.NewFetchRequestTopicPartition()
	p.PartitionMaxBytes = 1 << 20
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func createTopicsRequest(v int16) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(v)
	req.TimeoutMillis = 5000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = fmt.Sprintf("created-v%d", v), 2, 1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("60000")
	t.Configs = append(t.Configs, c)
	req.Topics = append(req.Topics, t)
	return req
}

func listOffsetsRequest(v int16) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(v)
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = fuzzTopic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func describeConfigsRequest(v int16) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(v)
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, fuzzTopic
	req.Resources = append(req.Resources, r)
	return req
}
