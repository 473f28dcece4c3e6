package broker

// DescribeQuorum v0–v2: the metadata quorum (topic __cluster_metadata,
// partition 0) as its leader sees it: leader, epoch (the Raft term), high
// watermark (the commit index), each voter's log end offset and each
// observer's (a broker outside the voters) that fetches from it; v2 adds
// the voters' quorum listeners. Only the leader knows the voters'
// progress, so another member answers NOT_CONTROLLER and clients go to
// the controller Metadata names (the leader). Fetch and catch-up times
// are not tracked (-1). A standalone node is a quorum of itself with no
// log: it answers itself as leader, offsets unknown (-1). ACLs, as Kafka's
// controller: DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic and its one partition name the quorum, as in KRaft.
const metadataTopic = "__cluster_metadata"

// QuorumStatus is the metadata quorum as this member sees it.
type QuorumStatus struct {
	Leader        int32 // -1 when none is known
	Epoch         int32 // the leader's term
	HighWatermark int64 // the commit index
	Voters        []QuorumVoter
	Observers     []QuorumVoter // brokers outside the voters that fetch from this member
}

// QuorumVoter is one voter: its progress (on the leader, else -1) and its
// quorum listener.
type QuorumVoter struct {
	ID           int32
	LogEndOffset int64
	Host         string
	Port         uint16
}

func handleDescribeQuorum(b *Broker, ctx context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !b.authorizedCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	st := b.quorumStatus(ctx)
	if st.Leader != b.cfg.NodeID {
		resp.ErrorCode = kerr.NotController.Code
		return respond(resp)
	}
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			t.Partitions = append(t.Partitions, quorumPartition(rt.Topic, rp.Partition, st))
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.Version >= 2 {
		for _, v := range st.Voters {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = v.ID
			if v.Host != "" {
				n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{{Name: "CONTROLLER", Host: v.Host, Port: v.Port}}
			}
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return respond(resp)
}

func quorumPartition(topic string, partition int32, st QuorumStatus) kmsg.DescribeQuorumResponseTopicPartition {
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition = partition
	if topic != metadataTopic || partition != 0 {
		p.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return p
	}
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.Leader, st.Epoch, st.HighWatermark
	for _, v := range st.Voters {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = v.ID, v.LogEndOffset
		p.CurrentVoters = append(p.CurrentVoters, rs)
	}
	for _, o := range st.Observers {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = o.ID, o.LogEndOffset
		p.Observers = append(p.Observers, rs)
	}
	return p
}

// quorumStatus asks the node for the quorum's state; a standalone node is
// its own quorum, with no log.
func (b *Broker) quorumStatus(ctx context.Context) QuorumStatus {
	if b.cfg.Quorum != nil {
		return b.cfg.Quorum(ctx)
	}
	return QuorumStatus{Leader: b.cfg.NodeID, HighWatermark: -1, Voters: []QuorumVoter{{ID: b.cfg.NodeID, LogEndOffset: -1}}}
}
