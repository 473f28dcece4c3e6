package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// api is one served Kafka API: its handler and the versions it serves.
type api struct {
	min, max int16
	handle   handler
}

// apis lists every served API. ApiVersions advertises exactly this table,
// so a version range here must be implemented and tested. The oldest
// versions are the oldest that record batch v2 allows (Produce v3, Fetch v4).
var apis map[int16]api

func init() {
	// Built in init because handleApiVersions reads the table it is part of.
	apis = map[int16]api{
		kmsg.Produce.Int16():                 {3, 13, handleProduce},
		kmsg.Fetch.Int16():                   {4, 18, handleFetch},
		kmsg.ListOffsets.Int16():             {1, 11, handleListOffsets},
		kmsg.Metadata.Int16():                {0, 13, handleMetadata},
		kmsg.ApiVersions.Int16():             {0, 5, handleApiVersions},
		kmsg.SASLHandshake.Int16():           {0, 1, handleSASLHandshake},
		kmsg.SASLAuthenticate.Int16():        {0, 2, handleSASLAuthenticate},
		kmsg.CreateTopics.Int16():            {0, 7, handleCreateTopics},
		kmsg.DeleteTopics.Int16():            {0, 6, handleDeleteTopics},
		kmsg.DeleteRecords.Int16():           {0, 2, handleDeleteRecords},
		kmsg.InitProducerID.Int16():          {0, 5, handleInitProducerID},
		kmsg.OffsetForLeaderEpoch.Int16():    {0, 4, handleOffsetForLeaderEpoch},
		kmsg.DescribeConfigs.Int16():         {0, 4, handleDescribeConfigs},
		kmsg.AlterConfigs.Int16():            {0, 2, handleAlterConfigs},
		kmsg.CreatePartitions.Int16():        {0, 3, handleCreatePartitions},
		kmsg.IncrementalAlterConfigs.Int16(): {0, 1, handleIncrementalAlterConfigs},
		kmsg.ElectLeaders.Int16():            {0, 2, handleElectLeaders},
		kmsg.DescribeCluster.Int16():         {0, 2, handleDescribeCluster},
		kmsg.DescribeQuorum.Int16():          {0, 2, handleDescribeQuorum},
		kmsg.BrokerHeartbeat.Int16():         {0, 2, handleBrokerHeartbeat},
		kmsg.FindCoordinator.Int16():         {0, 6, handleFindCoordinator},
		kmsg.OffsetCommit.Int16():            {2, 10, handleGroupRequest},
		kmsg.OffsetFetch.Int16():             {1, 10, handleGroupRequest},
		kmsg.JoinGroup.Int16():               {0, 9, handleGroupRequest},
		kmsg.Heartbeat.Int16():               {0, 4, handleGroupRequest},
		kmsg.LeaveGroup.Int16():              {0, 5, handleGroupRequest},
		kmsg.SyncGroup.Int16():               {0, 5, handleGroupRequest},
		kmsg.DescribeGroups.Int16():          {0, 6, handleGroupRequest},
		kmsg.ListGroups.Int16():              {0, 5, handleGroupRequest},
		kmsg.DeleteGroups.Int16():            {0, 3, handleGroupRequest},
		kmsg.OffsetDelete.Int16():            {0, 0, handleGroupRequest},
		kmsg.ConsumerGroupHeartbeat.Int16():  {0, 1, handleGroupRequest},
		kmsg.ConsumerGroupDescribe.Int16():   {0, 1, handleGroupRequest},
		kmsg.AddPartitionsToTxn.Int16():      {0, 5, handleTxnRequest},
		kmsg.AddOffsetsToTxn.Int16():         {0, 4, handleTxnRequest},
		kmsg.EndTxn.Int16():                  {0, 5, handleTxnRequest},
		kmsg.TxnOffsetCommit.Int16():         {0, 5, handleTxnOffsetCommit},
		kmsg.WriteTxnMarkers.Int16():         {0, 2, handleWriteTxnMarkers},
		kmsg.DescribeTransactions.Int16():    {0, 0, handleTxnRequest},
		kmsg.ListTransactions.Int16():        {0, 2, handleTxnRequest},
		kmsg.DescribeProducers.Int16():       {0, 0, handleDescribeProducers},
		// SCRAM users (KIP-554).
		kmsg.DescribeUserSCRAMCredentials.Int16(): {0, 0, handleDescribeUserSCRAMCredentials},
		kmsg.AlterUserSCRAMCredentials.Int16():    {0, 0, handleAlterUserSCRAMCredentials},
		kmsg.DescribeACLs.Int16():                 {0, 3, handleDescribeACLs},
		kmsg.CreateACLs.Int16():                   {0, 3, handleCreateACLs},
		kmsg.DeleteACLs.Int16():                   {0, 3, handleDeleteACLs},
	}
}
