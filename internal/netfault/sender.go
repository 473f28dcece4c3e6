package netfault

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// Unknown is the sender of a connection that no Eddy node dialled as
// itself: a test's own client, a tool, a health probe.
const Unknown int32 = -1

const (
	// quorumMagic opens every connection of the metadata quorum's
	// transport (docs/format/quorum.md): "EDDYRAFT" | u16 version | u64
	// from | u64 to | ..., where from is the sender's raft id, its node id
	// plus one (raft reserves 0).
	quorumMagic   = "EDDYRAFT"
	quorumVersion = 1
	quorumPrefix  = len(quorumMagic) + 2 + 8

	// replicaClientID is the ClientID of the franz-go client a node's
	// followers fetch with and its heartbeats go through, followed by the
	// node id (internal/node/replication.go).
	replicaClientID = "eddy-replica-"
	// kafkaHeader is a Kafka request's bytes up to its client id: i32
	// size, i16 api key, i16 api version, i32 correlation id, i16 client
	// id length. The client id stays a non-compact nullable string in
	// every request header version from v1 on.
	kafkaHeader = 4 + 2 + 2 + 4 + 2
	// maxClientID bounds the client ids worth reading: a longer one is not
	// a replica's.
	maxClientID = len(replicaClientID) + 10
)

// maxPeek is the most bytes Sender needs to decide.
const maxPeek = max(quorumPrefix, kafkaHeader+maxClientID)

// Sender reads which node dialled a connection from the first bytes the
// dialler sent: the sender id of a quorum hello, or the node id in the
// ClientID "eddy-replica-N" of a Kafka request. Anything else is Unknown.
// complete is false while prefix is too short to tell.
func Sender(prefix []byte) (node int32, complete bool) {
	if len(prefix) < len(quorumMagic) && strings.HasPrefix(quorumMagic, string(prefix)) {
		return Unknown, false
	}
	if strings.HasPrefix(string(prefix), quorumMagic) {
		return quorumSender(prefix)
	}
	return kafkaSender(prefix)
}

func quorumSender(prefix []byte) (int32, bool) {
	if len(prefix) < quorumPrefix {
		return Unknown, false
	}
	b := prefix[len(quorumMagic):]
	if binary.BigEndian.Uint16(b) != quorumVersion {
		return Unknown, true
	}
	from := binary.BigEndian.Uint64(b[2:])
	if from == 0 || from-1 > 1<<31-1 {
		return Unknown, true
	}
	return int32(from - 1), true
}

func kafkaSender(prefix []byte) (int32, bool) {
	if len(prefix) < kafkaHeader {
		return Unknown, false
	}
	n := int(int16(binary.BigEndian.Uint16(prefix[kafkaHeader-2:])))
	if n < len(replicaClientID) || n > maxClientID {
		return Unknown, true // null, empty or not a replica's
	}
	if len(prefix) < kafkaHeader+n {
		return Unknown, false
	}
	return replicaID(string(prefix[kafkaHeader : kafkaHeader+n])), true
}

// replicaID is N in "eddy-replica-N", or Unknown.
func replicaID(clientID string) int32 {
	digits, ok := strings.CutPrefix(clientID, replicaClientID)
	if !ok {
		return Unknown
	}
	id, err := strconv.ParseInt(digits, 10, 32)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != digits {
		return Unknown
	}
	return int32(id)
}
