package node_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame builds a request frame: size, key, version, correlation id 7,
// client id "t", then body.
func frame(key, version int16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 't')
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// exchange writes raw bytes and returns the response frame body, or the
// read error (io.EOF when the broker closed the connection).
func exchange(t *testing.T, addr string, raw []byte) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(c, body)
	return body, err
}

// TestBadFramesCloseOnlyTheirConnection sends malformed, oversized and
// unknown requests; each must get Kafka's answer or a closed connection,
// and the broker must keep serving a well-behaved client throughout.
func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	tn := startNode(t, "", map[string]string{"socket.request.max.bytes": "1048576"})
	good := newClient(t, tn.KafkaAddr())
	closes := map[string][]byte{
		"oversized frame":          binary.BigEndian.AppendUint32(nil, 2<<20),
		"negative size":            binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"short header":             {0, 0, 0, 3, 0, 3, 0},
		"unknown api key":          frame(999, 0, nil),
		"version newer than known": frame(kmsg.Metadata.Int16(), 99, nil),
		"unserved produce v2":      frame(kmsg.Produce.Int16(), 2, nil),
		"truncated metadata":       frame(kmsg.Metadata.Int16(), 1, []byte{0, 0, 0, 5, 0}),
		"client id past frame":     append(binary.BigEndian.AppendUint32(nil, 10), 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0x7f),
	}
	for name, raw := range closes {
		if _, err := exchange(t, tn.KafkaAddr(), raw); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
			t.Errorf("%s: want the connection closed, got %v", name, err)
		}
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testContext(t), good); err != nil {
			t.Fatalf("after %s, a good client failed: %v", name, err)
		}
	}

	// ApiVersions at a version we do not know is answered in v0 form with
	// UNSUPPORTED_VERSION and our ranges (KIP-511).
	body, err := exchange(t, tn.KafkaAddr(), frame(kmsg.ApiVersions.Int16(), 99, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v99: err %v code %d keys %d", err, resp.ErrorCode, len(resp.ApiKeys))
	}

	// An API we do not serve, whose answer has a top-level error code, gets
	// UNSUPPORTED_VERSION rather than a dropped connection.
	tokens := kmsg.NewPtrDescribeDelegationTokenRequest()
	body, err = exchange(t, tn.KafkaAddr(), frame(kmsg.DescribeDelegationToken.Int16(), 0, tokens.AppendTo(nil)))
	if err != nil {
		t.Fatal(err)
	}
	dt := kmsg.NewPtrDescribeDelegationTokenResponse()
	if err := dt.ReadFrom(body[4:]); err != nil || dt.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("DescribeDelegationToken v0: err %v code %d", err, dt.ErrorCode)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// TestProduceToMissingPartition gets UNKNOWN_TOPIC_OR_PARTITION.
func TestProduceToMissingPartition(t *testing.T) {
	tn := startNode(t, "", nil)
	createTopic(t, newAdmin(t, tn.KafkaAddr()), "one", 1, nil)
	cl := namedTopicsClient(t, tn.KafkaAddr())
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	for _, target := range []struct {
		topic     string
		partition int32
	}{{"one", 5}, {"none", 0}} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = target.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = target.partition
		rp.Records = []byte("not even a batch")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if code := rt.Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("%s/%d: error %v", rt.Topic, rt.Partitions[0].Partition, kerr.ErrorForCode(code))
		}
	}
	// A bad produce must not disturb a good one.
	if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: "one", Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTopicsPartitionBound refuses a topic so large that creating it
// would stall the broker and fill the disk.
func TestCreateTopicsPartitionBound(t *testing.T) {
	tn := startNode(t, "", nil)
	adm := newAdmin(t, tn.KafkaAddr())
	res, err := adm.CreateTopic(testContext(t), 1<<31-1, 1, nil, "bomb")
	if err == nil {
		err = res.Err
	}
	if !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("creating 2^31-1 partitions: got %v, want INVALID_PARTITIONS", err)
	}
	createTopic(t, adm, "small", 1, nil)
	cres, err := adm.CreatePartitions(testContext(t), 1<<30, "small")
	if err != nil || !errors.Is(cres["small"].Err, kerr.InvalidPartitions) {
		t.Fatalf("adding 2^30 partitions: got %v %v, want INVALID_PARTITIONS", err, cres["small"].Err)
	}
}
