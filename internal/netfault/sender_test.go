package netfault

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// quorumHello is the quorum transport's hello from raft id from
// (docs/format/quorum.md), with the given version.
func quorumHello(version uint16, from uint64) []byte {
	b := []byte(quorumMagic)
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, 9)
	b = binary.BigEndian.AppendUint16(b, 3)
	return append(b, "abc"...)
}

// kafkaRequest is an ApiVersions v3 request header with clientID, nil
// for a null one.
func kafkaRequest(clientID *string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, 18)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = binary.BigEndian.AppendUint32(b, 1)
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	b = append(b, 0) // no tagged fields
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func str(s string) *string { return &s }

func TestSender(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prefix   []byte
		node     int32
		complete bool
	}{
		{"nothing yet", nil, Unknown, false},
		{"part of the quorum magic", []byte("EDDY"), Unknown, false},
		{"quorum hello from raft id 3", quorumHello(1, 3), 2, true},
		{"quorum hello from raft id 1", quorumHello(1, 1), 0, true},
		{"quorum hello cut before the sender", quorumHello(1, 3)[:quorumPrefix-1], Unknown, false},
		{"quorum hello up to the sender", quorumHello(1, 3)[:quorumPrefix], 2, true},
		{"quorum hello of another version", quorumHello(2, 3), Unknown, true},
		{"quorum hello from raft id 0", quorumHello(1, 0), Unknown, true},
		{"quorum hello from beyond int32", quorumHello(1, 1<<40), Unknown, true},
		{"replica client", kafkaRequest(str("eddy-replica-3")), 3, true},
		{"replica client 0", kafkaRequest(str("eddy-replica-0")), 0, true},
		{"replica client cut in its id", kafkaRequest(str("eddy-replica-3"))[:kafkaHeader+5], Unknown, false},
		{"kafka header cut before the id length", kafkaRequest(str("eddy-replica-3"))[:kafkaHeader-1], Unknown, false},
		{"another client", kafkaRequest(str("kgo")), Unknown, true},
		{"a client named like a replica, longer", kafkaRequest(str("eddy-replica-3-test")), Unknown, true},
		{"a replica id with a leading zero", kafkaRequest(str("eddy-replica-03")), Unknown, true},
		{"a negative replica id", kafkaRequest(str("eddy-replica--3")), Unknown, true},
		{"a replica id beyond int32", kafkaRequest(str("eddy-replica-4294967296")), Unknown, true},
		{"a long client id", kafkaRequest(str("a-client-id-much-longer-than-any-replica-id")), Unknown, true},
		{"a null client id", kafkaRequest(nil), Unknown, true},
		{"an empty client id", kafkaRequest(str("")), Unknown, true},
		{"a byte that is neither", []byte{0}, Unknown, false},
	} {
		node, complete := Sender(tc.prefix)
		if node != tc.node || complete != tc.complete {
			t.Errorf("%s: Sender = %d, %v; want %d, %v", tc.name, node, complete, tc.node, tc.complete)
		}
	}
}

// firstBytes is what a franz-go client with opts sends first on a
// connection, read by a listener that never answers.
func firstBytes(t *testing.T, opts ...kgo.Opt) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(ln.Addr().String())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go cl.Ping(ctx)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, 512)
	for {
		if _, complete := Sender(buf); complete {
			return buf
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			t.Fatalf("reading the client's first bytes: %v (after %d)", err, len(buf))
		}
		buf = buf[:len(buf)+n]
	}
}

// TestSenderOfRealClient reads what franz-go really sends, as the nodes'
// replica clients do.
func TestSenderOfRealClient(t *testing.T) {
	if got, _ := Sender(firstBytes(t, kgo.ClientID("eddy-replica-7"))); got != 7 {
		t.Errorf("a client with ClientID eddy-replica-7 is node %d", got)
	}
	if got, _ := Sender(firstBytes(t)); got != Unknown {
		t.Errorf("a client with the default ClientID is node %d", got)
	}
}
