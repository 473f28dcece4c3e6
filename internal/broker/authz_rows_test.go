package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The admin, group and transaction rows of the ACL matrix (authz_test.go).

func createTopicsRequest(v int16) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = v, 5000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "n", 1, 1
		req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
		return req
	}
}

// createTopicCode is the topic's error, else its config error (v5+).
func createTopicCode(r *kmsg.CreateTopicsResponse) int16 {
	if c := r.Topics[0].ErrorCode; c != 0 {
		return c
	}
	return r.Topics[0].ConfigErrorCode
}

func describeConfigsRequest(typ kmsg.ConfigResourceType, name string) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
		return req
	}
}

func incrementalAlterRequest(typ kmsg.ConfigResourceType, name, key, value string) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.ValidateOnly = true
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = key, kmsg.StringPtr(value)
		rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr}
		return req
	}
}

func alterConfigsRequest() kmsg.Request {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.ValidateOnly = true
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("1000")
	rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{c}
	req.Resources = []kmsg.AlterConfigsRequestResource{rr}
	return req
}

func deleteTopicsRequest(v int16, byID bool) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version, req.TimeoutMillis = v, 5000
		if v < 6 {
			req.TopicNames = []string{"t"}
			return req
		}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr("t")
		req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
		return req
	}
}

func adminRows() []aclRow {
	describeConfigsCode := first(func(r *kmsg.DescribeConfigsResponse) int16 { return r.Resources[0].ErrorCode })
	alterCode := first(func(r *kmsg.IncrementalAlterConfigsResponse) int16 { return r.Resources[0].ErrorCode })
	return []aclRow{
		{name: "CreateTopics/cluster", need: []aclRule{clusterACL(create)}, deny: []int16{topicDenied},
			req: createTopicsRequest(4), code: first(createTopicCode)},
		{name: "CreateTopics/topic", need: []aclRule{topicACL(create, "n")}, deny: []int16{topicDenied},
			req: createTopicsRequest(4), code: first(createTopicCode)},
		{name: "CreateTopics/configs", need: []aclRule{topicACL(create, "n"), topicACL(describeConfigs, "n")},
			deny: []int16{topicDenied, topicDenied}, req: createTopicsRequest(7), code: first(createTopicCode)},
		{name: "DeleteTopics", need: []aclRule{topicACL(deleteOp, "t")}, deny: []int16{topicDenied},
			req:  deleteTopicsRequest(5, false),
			code: first(func(r *kmsg.DeleteTopicsResponse) int16 { return r.Topics[0].ErrorCode })},
		{name: "DeleteRecords", need: []aclRule{topicACL(deleteOp, "t")}, deny: []int16{topicDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{rp}
				req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
				return req
			},
			code: first(func(r *kmsg.DeleteRecordsResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "CreatePartitions", need: []aclRule{topicACL(alterOp, "t")}, deny: []int16{topicDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrCreatePartitionsRequest()
				req.TimeoutMillis = 5000
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = "t", 3
				req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
				return req
			},
			code: first(func(r *kmsg.CreatePartitionsResponse) int16 { return r.Topics[0].ErrorCode })},
		{name: "DescribeConfigs/topic", need: []aclRule{topicACL(describeConfigs, "t")}, deny: []int16{topicDenied},
			req: describeConfigsRequest(kmsg.ConfigResourceTypeTopic, "t"), code: describeConfigsCode},
		{name: "DescribeConfigs/broker", need: []aclRule{clusterACL(describeConfigs)}, deny: []int16{clusterDenied},
			req: describeConfigsRequest(kmsg.ConfigResourceTypeBroker, "1"), code: describeConfigsCode},
		{name: "DescribeConfigs/group", need: []aclRule{groupACL(describeConfigs)}, deny: []int16{groupDenied},
			req: describeConfigsRequest(kmsg.ConfigResourceTypeGroupConfig, "g"), code: describeConfigsCode},
		{name: "AlterConfigs/topic", need: []aclRule{topicACL(alterConfigs, "t")}, deny: []int16{topicDenied},
			req:  alterConfigsRequest,
			code: first(func(r *kmsg.AlterConfigsResponse) int16 { return r.Resources[0].ErrorCode })},
		{name: "IncrementalAlterConfigs/topic", need: []aclRule{topicACL(alterConfigs, "t")}, deny: []int16{topicDenied},
			req: incrementalAlterRequest(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "1000"), code: alterCode},
		{name: "IncrementalAlterConfigs/broker", need: []aclRule{clusterACL(alterConfigs)}, deny: []int16{clusterDenied},
			req: incrementalAlterRequest(kmsg.ConfigResourceTypeBroker, "1", "log.retention.ms", "1000"), code: alterCode},
		{name: "IncrementalAlterConfigs/group", need: []aclRule{groupACL(alterConfigs)}, deny: []int16{groupDenied},
			req: incrementalAlterRequest(kmsg.ConfigResourceTypeGroupConfig, "g", "consumer.session.timeout.ms", "45000"), code: alterCode},
		{name: "ElectLeaders", need: []aclRule{clusterACL(alterOp)}, deny: []int16{clusterDenied},
			want: kerr.ElectionNotNeeded.Code,
			req: func() kmsg.Request {
				return electRequest(2, 0, []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0}}})
			},
			code: first(func(r *kmsg.ElectLeadersResponse) int16 {
				if r.ErrorCode != 0 {
					return r.ErrorCode
				}
				return r.Topics[0].Partitions[0].ErrorCode
			})},
		{name: "DescribeQuorum", need: []aclRule{clusterACL(describeOp)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeQuorumRequest()
				rt := kmsg.NewDescribeQuorumRequestTopic()
				rt.Topic = metadataTopic
				rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
				req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
				return req
			},
			code: first(func(r *kmsg.DescribeQuorumResponse) int16 { return r.ErrorCode })},
		{name: "BrokerHeartbeat", need: []aclRule{clusterACL(clusterAction)}, deny: []int16{clusterDenied},
			want: kerr.NotController.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrBrokerHeartbeatRequest()
				req.BrokerID, req.BrokerEpoch = 2, 1
				return req
			},
			code: first(func(r *kmsg.BrokerHeartbeatResponse) int16 { return r.ErrorCode })},
		{name: "WriteTxnMarkers/cluster action", need: []aclRule{clusterACL(clusterAction)}, deny: []int16{clusterDenied},
			req: writeTxnMarkersRequest, code: first(writeTxnMarkersCode)},
		{name: "WriteTxnMarkers/alter", need: []aclRule{clusterACL(alterOp)}, deny: []int16{clusterDenied},
			req: writeTxnMarkersRequest, code: first(writeTxnMarkersCode)},
		{name: "DescribeAcls", need: []aclRule{clusterACL(describeOp)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return req
			},
			code: first(func(r *kmsg.DescribeACLsResponse) int16 { return r.ErrorCode })},
		{name: "CreateAcls", need: []aclRule{clusterACL(alterOp)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrCreateACLsRequest()
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				req.Creations = []kmsg.CreateACLsRequestCreation{c}
				return req
			},
			code: first(func(r *kmsg.CreateACLsResponse) int16 { return r.Results[0].ErrorCode })},
		{name: "DeleteAcls", need: []aclRule{clusterACL(alterOp)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				req.Filters = []kmsg.DeleteACLsRequestFilter{f}
				return req
			},
			code: first(func(r *kmsg.DeleteACLsResponse) int16 { return r.Results[0].ErrorCode })},
		{name: "DescribeUserScramCredentials", need: []aclRule{clusterACL(describeOp)}, deny: []int16{clusterDenied},
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() },
			code: first(func(r *kmsg.DescribeUserSCRAMCredentialsResponse) int16 { return r.ErrorCode })},
		{name: "AlterUserScramCredentials", need: []aclRule{clusterACL(alterOp)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "bob", Mechanism: 1}}
				return req
			},
			want: kerr.ResourceNotFound.Code,
			code: first(func(r *kmsg.AlterUserSCRAMCredentialsResponse) int16 { return r.Results[0].ErrorCode })},
		{name: "FindCoordinator/group", need: []aclRule{groupACL(describeOp)}, deny: []int16{groupDenied},
			req: findCoordinatorRequest(0, "g"), code: first(findCoordinatorCode)},
		{name: "FindCoordinator/transaction", need: []aclRule{txnACL(describeOp)}, deny: []int16{txnDenied},
			req: findCoordinatorRequest(1, "tx"), code: first(findCoordinatorCode)},
	}
}

func writeTxnMarkersRequest() kmsg.Request {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = 7, 0, false
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "t", []int32{0}
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{mt}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	return req
}

func writeTxnMarkersCode(r *kmsg.WriteTxnMarkersResponse) int16 {
	return r.Markers[0].Topics[0].Partitions[0].ErrorCode
}

func findCoordinatorRequest(typ int8, key string) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKeys = typ, []string{key}
		return req
	}
}

func findCoordinatorCode(r *kmsg.FindCoordinatorResponse) int16 { return r.Coordinators[0].ErrorCode }

func offsetCommitRequest() kmsg.Request {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 9, "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 0
	rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{rp}
	req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
	return req
}

func offsetFetchRequest(v int16) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		if v < 8 {
			req.Group = "g"
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
			return req
		}
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "g"
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "t", []int32{0}
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{rt}
		req.Groups = []kmsg.OffsetFetchRequestGroup{g}
		return req
	}
}

func offsetFetchCode(r *kmsg.OffsetFetchResponse) int16 {
	if r.Version >= 8 {
		g := r.Groups[0]
		if g.ErrorCode != 0 {
			return g.ErrorCode
		}
		return g.Topics[0].Partitions[0].ErrorCode
	}
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

func offsetDeleteRequest() kmsg.Request {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "t"
	rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	req.Topics = []kmsg.OffsetDeleteRequestTopic{rt}
	return req
}

func offsetDeleteCode(r *kmsg.OffsetDeleteResponse) int16 {
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

func groupRows() []aclRow {
	readG := []aclRule{groupACL(read)}
	one := []int16{groupDenied}
	return []aclRow{
		{name: "JoinGroup", need: readG, deny: one, want: kerr.MemberIDRequired.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "g", 10000, 10000, "consumer"
				req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
				return req
			},
			code: first(func(r *kmsg.JoinGroupResponse) int16 { return r.ErrorCode })},
		{name: "SyncGroup", need: readG, deny: one, want: kerr.UnknownMemberID.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.ProtocolType, req.Protocol = "g", "m", kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
				return req
			},
			code: first(func(r *kmsg.SyncGroupResponse) int16 { return r.ErrorCode })},
		{name: "Heartbeat", need: readG, deny: one, want: kerr.UnknownMemberID.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID = "g", "m"
				return req
			},
			code: first(func(r *kmsg.HeartbeatResponse) int16 { return r.ErrorCode })},
		{name: "LeaveGroup", need: readG, deny: one, want: kerr.UnknownMemberID.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group, req.Members = "g", []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
				return req
			},
			code: first(func(r *kmsg.LeaveGroupResponse) int16 {
				if r.ErrorCode != 0 {
					return r.ErrorCode
				}
				return r.Members[0].ErrorCode
			})},
		{name: "ConsumerGroupHeartbeat", need: []aclRule{groupACL(read), topicACL(describeOp, "t")}, deny: []int16{groupDenied, topicDenied},
			want: kerr.UnknownMemberID.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = "g", "m", 1, []string{"t"}
				return req
			},
			code: first(func(r *kmsg.ConsumerGroupHeartbeatResponse) int16 { return r.ErrorCode })},
		{name: "OffsetCommit", need: []aclRule{groupACL(read), topicACL(read, "t")}, deny: []int16{groupDenied, topicDenied},
			req:  offsetCommitRequest,
			code: first(func(r *kmsg.OffsetCommitResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "OffsetFetch/v7", need: []aclRule{groupACL(describeOp), topicACL(describeOp, "t")}, deny: []int16{groupDenied, topicDenied},
			req: offsetFetchRequest(7), code: first(offsetFetchCode)},
		{name: "OffsetFetch/v9", need: []aclRule{groupACL(describeOp), topicACL(describeOp, "t")}, deny: []int16{groupDenied, topicDenied},
			req: offsetFetchRequest(9), code: first(offsetFetchCode)},
		{name: "DescribeGroups", need: []aclRule{groupACL(describeOp)}, deny: one, want: kerr.GroupIDNotFound.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: first(func(r *kmsg.DescribeGroupsResponse) int16 { return r.Groups[0].ErrorCode })},
		{name: "ConsumerGroupDescribe", need: []aclRule{groupACL(describeOp)}, deny: one, want: kerr.GroupIDNotFound.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: first(func(r *kmsg.ConsumerGroupDescribeResponse) int16 { return r.Groups[0].ErrorCode })},
		{name: "ConsumerGroupDescribe/topics", need: []aclRule{groupACL(describeOp), topicACL(describeOp, "t")},
			deny: []int16{groupDenied, topicDenied}, setup: joinConsumerGroup,
			req: func() kmsg.Request {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: first(func(r *kmsg.ConsumerGroupDescribeResponse) int16 { return r.Groups[0].ErrorCode })},
		{name: "DeleteGroups", need: []aclRule{groupACL(deleteOp)}, deny: one, want: kerr.GroupIDNotFound.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: first(func(r *kmsg.DeleteGroupsResponse) int16 { return r.Groups[0].ErrorCode })},
		{name: "OffsetDelete", need: []aclRule{groupACL(deleteOp), topicACL(read, "t")}, deny: []int16{groupDenied, topicDenied},
			want: kerr.GroupIDNotFound.Code, req: offsetDeleteRequest, code: first(offsetDeleteCode)},
	}
}

func initProducerIDRequest(txnID *string) func() kmsg.Request {
	return func() kmsg.Request {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60000
		return req
	}
}

func txnRows() []aclRow {
	initCode := first(func(r *kmsg.InitProducerIDResponse) int16 { return r.ErrorCode })
	return []aclRow{
		{name: "InitProducerId/idempotent", need: []aclRule{clusterACL(idempotentWrite)}, deny: []int16{clusterDenied},
			req: initProducerIDRequest(nil), code: initCode},
		{name: "InitProducerId/write on a topic", need: []aclRule{topicACL(write, "t")}, deny: []int16{clusterDenied},
			req: initProducerIDRequest(nil), code: initCode},
		{name: "InitProducerId/transactional", need: []aclRule{txnACL(write)}, deny: []int16{txnDenied},
			req: initProducerIDRequest(kmsg.StringPtr("tx")), code: initCode},
		{name: "AddPartitionsToTxn", need: []aclRule{txnACL(write), topicACL(write, "t")}, deny: []int16{txnDenied, topicDenied},
			want: kerr.InvalidProducerIDMapping.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, "tx", 7, 0
				req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
				return req
			},
			code: first(func(r *kmsg.AddPartitionsToTxnResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "AddPartitionsToTxn/brokers", need: []aclRule{clusterACL(clusterAction)}, deny: []int16{clusterDenied},
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
				tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = "tx", 7, 0, true
				tr.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{0}}}
				req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tr}
				return req
			},
			code: first(func(r *kmsg.AddPartitionsToTxnResponse) int16 { return r.ErrorCode })},
		{name: "AddOffsetsToTxn", need: []aclRule{txnACL(write), groupACL(read)}, deny: []int16{txnDenied, groupDenied},
			want: kerr.InvalidProducerIDMapping.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "tx", 7, 0, "g"
				return req
			},
			code: first(func(r *kmsg.AddOffsetsToTxnResponse) int16 { return r.ErrorCode })},
		{name: "EndTxn", need: []aclRule{txnACL(write)}, deny: []int16{txnDenied}, want: kerr.InvalidProducerIDMapping.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrEndTxnRequest()
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", 7, 0
				return req
			},
			code: first(func(r *kmsg.EndTxnResponse) int16 { return r.ErrorCode })},
		{name: "TxnOffsetCommit", need: []aclRule{txnACL(write), groupACL(read), topicACL(read, "t")},
			deny: []int16{txnDenied, groupDenied, topicDenied}, want: kerr.InvalidProducerIDMapping.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrTxnOffsetCommitRequest()
				req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", "g", 7, 0
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = "t"
				rt.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}
				req.Topics = []kmsg.TxnOffsetCommitRequestTopic{rt}
				return req
			},
			code: first(func(r *kmsg.TxnOffsetCommitResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode })},
		{name: "DescribeTransactions", need: []aclRule{txnACL(describeOp)}, deny: []int16{txnDenied},
			want: kerr.TransactionalIDNotFound.Code,
			req: func() kmsg.Request {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = []string{"tx"}
				return req
			},
			code: first(func(r *kmsg.DescribeTransactionsResponse) int16 { return r.TransactionStates[0].ErrorCode })},
	}
}

// joinConsumerGroup makes group g a consumer group whose one member
// subscribes to t.
func joinConsumerGroup(t *testing.T, b *Broker) {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "g", "m1", 0, 10000
	req.SubscribedTopicNames, req.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp := internally(t, b, req).(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("joining g: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}
