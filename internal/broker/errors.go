package broker

import (
	"context"
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/acl"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// kafkaError maps an error from the layers below to the Kafka error a
// client should see. This is the one place that mapping lives (STYLE.md
// rule 8); anything unrecognised is UNKNOWN_SERVER_ERROR.
func kafkaError(err error) *kerr.Error {
	var ke *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists
	case errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, storage.ErrLogDeleted),
		errors.Is(err, replica.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, replica.ErrNotLeader):
		return kerr.NotLeaderForPartition
	case errors.Is(err, replica.ErrFencedEpoch):
		return kerr.FencedLeaderEpoch
	case errors.Is(err, replica.ErrUnknownEpoch):
		return kerr.UnknownLeaderEpoch
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas
	case errors.Is(err, controller.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch
	case errors.Is(err, controller.ErrInvalidUpdateVersion), errors.Is(err, meta.ErrStalePartitionEpoch):
		return kerr.InvalidUpdateVersion
	case errors.Is(err, controller.ErrIneligibleReplica):
		return kerr.IneligibleReplica
	case errors.Is(err, controller.ErrUnknownBroker), errors.Is(err, meta.ErrStaleBrokerEpoch):
		return kerr.StaleBrokerEpoch
	case errors.Is(err, controller.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded
	case errors.Is(err, controller.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable
	case errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable
	case errors.Is(err, controller.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, controller.ErrUnacceptableCredential):
		return kerr.UnacceptableCredential
	case errors.Is(err, controller.ErrUnsupportedMechanism):
		return kerr.UnsupportedSaslMechanism
	case errors.Is(err, controller.ErrDuplicateUser):
		return kerr.DuplicateResource
	case errors.Is(err, meta.ErrUnknownScramCredential):
		return kerr.ResourceNotFound
	case errors.Is(err, meta.ErrNoQuorum):
		return kerr.RequestTimedOut
	case errors.Is(err, meta.ErrInvalidTopic):
		return kerr.InvalidTopicException
	case errors.Is(err, meta.ErrInvalidPartitions):
		return kerr.InvalidPartitions
	case errors.Is(err, meta.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor
	case errors.Is(err, meta.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment
	case errors.Is(err, config.ErrInvalidConfig):
		return kerr.InvalidConfig
	case errors.Is(err, acl.ErrInvalid):
		return kerr.InvalidRequest
	case errors.Is(err, record.ErrCorrupt):
		return kerr.CorruptMessage
	case errors.Is(err, record.ErrInvalid), errors.Is(err, record.ErrUnsupportedMagic):
		return kerr.InvalidRecord
	case errors.Is(err, storage.ErrRecordTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, storage.ErrUnknownProducerID):
		return kerr.UnknownProducerID
	case errors.Is(err, storage.ErrInvalidTxnState):
		return kerr.InvalidTxnState
	case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced
	case errors.Is(err, storage.ErrStorage), errors.Is(err, meta.ErrStorage),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EIO):
		return kerr.KafkaStorageError
	case errors.Is(err, storage.ErrClosed), errors.Is(err, context.Canceled):
		return kerr.NotLeaderForPartition
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}

// errorCode is kafkaError's code, 0 for nil.
func errorCode(err error) int16 {
	if ke := kafkaError(err); ke != nil {
		return ke.Code
	}
	return 0
}

// errorMessage is the text sent beside an error code in versions that carry
// one; nil when there is no error. A full disk is said plainly (the log
// names the file).
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	if errors.Is(err, syscall.ENOSPC) {
		s = diskFullMessage
	}
	return &s
}

// diskFullMessage is the ErrorMessage of anything that failed on ENOSPC.
const diskFullMessage = "no space left on device"
