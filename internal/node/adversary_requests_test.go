package node_test

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// fuzzTarget names what valid requests point at: a topic with its id and
// a consumer group.
type fuzzTarget struct {
	topic   string
	topicID [16]byte
	group   string
}

// validRequest builds a well-formed request of key at version v aimed at
// tg. Requests that could grow the node without bound (CreateTopics,
// CreatePartitions, configs) are validate-only where the version allows;
// a mutation may still turn that off, which is part of the attack.
func validRequest(key, v int16, tg fuzzTarget) kmsg.Request {
	build, ok := requestBuilders[key]
	if !ok {
		panic("no builder for api key")
	}
	req := build(v, tg)
	req.SetVersion(v)
	return req
}

var requestBuilders = map[int16]func(int16, fuzzTarget) kmsg.Request{
	kmsg.Produce.Int16():                 produceReq,
	kmsg.Fetch.Int16():                   fetchReq,
	kmsg.ListOffsets.Int16():             listOffsetsReq,
	kmsg.Metadata.Int16():                metadataReq,
	kmsg.ApiVersions.Int16():             apiVersionsReq,
	kmsg.CreateTopics.Int16():            createTopicsReq,
	kmsg.DeleteTopics.Int16():            deleteTopicsReq,
	kmsg.DeleteRecords.Int16():           deleteRecordsReq,
	kmsg.InitProducerID.Int16():          initProducerIDReq,
	kmsg.OffsetForLeaderEpoch.Int16():    offsetForLeaderEpochReq,
	kmsg.DescribeQuorum.Int16():          describeQuorumReq,
	kmsg.BrokerHeartbeat.Int16():         brokerHeartbeatReq,
	kmsg.DescribeConfigs.Int16():         describeConfigsReq,
	kmsg.AlterConfigs.Int16():            alterConfigsReq,
	kmsg.CreatePartitions.Int16():        createPartitionsReq,
	kmsg.IncrementalAlterConfigs.Int16(): incrementalAlterConfigsReq,
	kmsg.ElectLeaders.Int16():            electLeadersReq,
	kmsg.DescribeCluster.Int16():         describeClusterReq,
	kmsg.FindCoordinator.Int16():         findCoordinatorReq,
	kmsg.OffsetCommit.Int16():            offsetCommitReq,
	kmsg.OffsetFetch.Int16():             offsetFetchReq,
	kmsg.JoinGroup.Int16():               joinGroupReq,
	kmsg.Heartbeat.Int16():               heartbeatReq,
	kmsg.LeaveGroup.Int16():              leaveGroupReq,
	kmsg.SyncGroup.Int16():               syncGroupReq,
	kmsg.DescribeGroups.Int16():          describeGroupsReq,
	kmsg.ListGroups.Int16():              listGroupsReq,
	kmsg.DeleteGroups.Int16():            deleteGroupsReq,
	kmsg.OffsetDelete.Int16():            offsetDeleteReq,
	kmsg.ConsumerGroupHeartbeat.Int16():  consumerGroupHeartbeatReq,
	kmsg.ConsumerGroupDescribe.Int16():   consumerGroupDescribeReq,
	kmsg.AddPartitionsToTxn.Int16():      addPartitionsToTxnReq,
	kmsg.AddOffsetsToTxn.Int16():         addOffsetsToTxnReq,
	kmsg.EndTxn.Int16():                  endTxnReq,
	kmsg.TxnOffsetCommit.Int16():         txnOffsetCommitReq,
	kmsg.WriteTxnMarkers.Int16():         writeTxnMarkersReq,
	kmsg.DescribeTransactions.Int16():    describeTransactionsReq,
	kmsg.ListTransactions.Int16():        listTransactionsReq,
	kmsg.DescribeProducers.Int16():       describeProducersReq,
	kmsg.SASLHandshake.Int16():           saslHandshakeReq,
	kmsg.SASLAuthenticate.Int16():        saslAuthenticateReq,
	kmsg.DescribeACLs.Int16():            describeACLsReq, // acl_test.go
	kmsg.CreateACLs.Int16():              createACLsReq,
	kmsg.DeleteACLs.Int16():              deleteACLsReq,
}

// advBatch is an uncompressed batch of n small records.
func advBatch(n int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Key: []byte("k"), Value: []byte("fuzz-value"), Headers: []record.Header{{Key: "h", Value: []byte("v")}}}
	}
	return record.Build(time.Now().UnixMilli(), recs)
}

// advRecords is an uncompressed batch of n records of size bytes each.
func advRecords(n, size int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: make([]byte, size)}
	}
	return record.Build(time.Now().UnixMilli(), recs)
}

func produceReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	t := kmsg.NewProduceRequestTopic()
	t.Topic, t.TopicID = tg.topic, tg.topicID
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = advBatch(3)
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func fetchReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 1<<20
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = tg.topic, tg.topicID
	p := kmsg.NewFetchRequestTopicPartition()
	p.PartitionMaxBytes = 1 << 20
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func listOffsetsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = tg.topic
	for _, ts := range []int64{-1, -2, 0} {
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Timestamp = ts
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	return req
}

func offsetForLeaderEpochReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	t := kmsg.NewOffsetForLeaderEpochRequestTopic()
	t.Topic = tg.topic
	for _, epoch := range []int32{0, 1, -1} {
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.LeaderEpoch = epoch
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	return req
}

func describeQuorumReq(int16, fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, t)
	return req
}

func brokerHeartbeatReq(int16, fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = 1, 1, -1
	return req
}

func metadataReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(tg.topic)
	req.Topics = append(req.Topics, t)
	req.AllowAutoTopicCreation = false
	return req
}

func apiVersionsReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "eddy-adversary", "1.0.0"
	return req
}

func createTopicsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis, req.ValidateOnly = 5000, true
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = tg.topic+"-new", 2, 1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("3600000")
	t.Configs = append(t.Configs, c)
	req.Topics = append(req.Topics, t)
	return req
}

func deleteTopicsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	req.TopicNames = []string{tg.topic + "-gone"}
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = kmsg.StringPtr(tg.topic + "-gone")
	req.Topics = append(req.Topics, t)
	return req
}

func deleteRecordsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	t := kmsg.NewDeleteRecordsRequestTopic()
	t.Topic = tg.topic
	p := kmsg.NewDeleteRecordsRequestTopicPartition()
	p.Offset = 0
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func initProducerIDReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	return req
}

func describeConfigsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{kmsg.ConfigResourceTypeTopic, tg.topic}, {kmsg.ConfigResourceTypeBroker, "1"}} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = r.typ, r.name
		req.Resources = append(req.Resources, res)
	}
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	return req
}

func alterConfigsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.ValidateOnly = true
	res := kmsg.NewAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, tg.topic
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("3600000")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	return req
}

func createPartitionsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis, req.ValidateOnly = 5000, true
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = tg.topic, 3
	req.Topics = append(req.Topics, t)
	return req
}

func incrementalAlterConfigsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = true
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, tg.topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("3600000")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	return req
}

func describeClusterReq(v int16, _ fuzzTarget) kmsg.Request {
	return kmsg.NewPtrDescribeClusterRequest()
}

func electLeadersReq(_ int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrElectLeadersRequest()
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: tg.topic, Partitions: []int32{0, 1}}}
	return req
}

func findCoordinatorReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorKeys = tg.group, []string{tg.group}
	return req
}

func offsetCommitReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.RetentionTimeMillis = tg.group, -1, -1
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = tg.topic
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Offset, p.LeaderEpoch, p.Metadata = 1, -1, kmsg.StringPtr("adv")
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func offsetFetchReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = tg.group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic, t.Partitions = tg.topic, []int32{0, 1}
	req.Topics = append(req.Topics, t)
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = tg.group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = tg.topic, []int32{0, 1}
	g.Topics = append(g.Topics, gt)
	req.Groups = append(req.Groups, g)
	return req
}

func joinGroupReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = tg.group+"-join", 6000, 6000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{tg.topic}
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

func heartbeatReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = tg.group, 1, "member"
	return req
}

func leaveGroupReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = tg.group, "member"
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = "member"
	req.Members = append(req.Members, m)
	return req
}

func syncGroupReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID = tg.group, 1, "member"
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = "member", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	req.GroupAssignment = append(req.GroupAssignment, a)
	return req
}

func describeGroupsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{tg.group, tg.group + "-join"}
	return req
}

func listGroupsReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter = []string{"Stable", "Empty"}
	req.TypesFilter = []string{"classic"}
	return req
}

func deleteGroupsReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{tg.group + "-gone"}
	return req
}

func offsetDeleteReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = tg.group
	t := kmsg.NewOffsetDeleteRequestTopic()
	t.Topic = tg.topic
	p := kmsg.NewOffsetDeleteRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func consumerGroupHeartbeatReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = tg.group+"-848", "adv-member-id-0000000", 0
	req.RebalanceTimeoutMillis = 5000
	req.SubscribedTopicNames = []string{tg.topic}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

func consumerGroupDescribeReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{tg.group + "-848"}
	return req
}

// fuzzTxnID is the transactional id transaction requests name.
const fuzzTxnID = "fztx"

func addPartitionsToTxnReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = fuzzTxnID, 1, 0
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: tg.topic, Partitions: []int32{0, 1}}}
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = fuzzTxnID, 1, 0, true
	tr.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: tg.topic, Partitions: []int32{0}}}
	req.Transactions = append(req.Transactions, tr)
	return req
}

func addOffsetsToTxnReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = fuzzTxnID, 1, 0, tg.group
	return req
}

func endTxnReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = fuzzTxnID, 1, 0, true
	return req
}

func txnOffsetCommitReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = fuzzTxnID, tg.group, 1, 0
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = tg.topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func describeTransactionsReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{fuzzTxnID, "other"}
	return req
}

func listTransactionsReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters, req.DurationFilterMillis = []string{"Ongoing"}, -1
	return req
}

func describeProducersReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: tg.topic, Partitions: []int32{0, 1, 99}}, {Topic: "missing", Partitions: []int32{0}}}
	return req
}

func writeTxnMarkersReq(v int16, tg fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = 1, 0, false
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: tg.topic, Partitions: []int32{0, 1}}}
	req.Markers = append(req.Markers, m)
	return req
}

// On a listener without SASL both SASL requests are answered
// ILLEGAL_SASL_STATE; mutated, they must not upset it either.
func saslHandshakeReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Mechanism = "SCRAM-SHA-512"
	return req
}

func saslAuthenticateReq(v int16, _ fuzzTarget) kmsg.Request {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SASLAuthBytes = []byte("n,,n=admin,r=fyko+d2lbbFgONRv9qkxdawL")
	return req
}
