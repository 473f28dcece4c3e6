package broker

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/record"
	"github.com/eddy-streaming/eddy/internal/replica"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func TestKafkaErrorMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("log t-0: %w: %w", storage.ErrStorage, syscall.EIO), kerr.KafkaStorageError},
		{fmt.Errorf("%w: write state.tmp: %w", meta.ErrStorage, syscall.ENOSPC), kerr.KafkaStorageError},
		{fmt.Errorf("open log t-0: %w", syscall.ENOSPC), kerr.KafkaStorageError},
		{fmt.Errorf("open log t-0: %w", syscall.EIO), kerr.KafkaStorageError},
		{fmt.Errorf("%w: %w: log t-0 is offline", storage.ErrStorage, storage.ErrLogCorrupt), kerr.KafkaStorageError},
		{fmt.Errorf("append: %w", record.ErrCorrupt), kerr.CorruptMessage},
		{fmt.Errorf("append: %w", record.ErrInvalid), kerr.InvalidRecord},
		{fmt.Errorf("append: %w", &record.RecordsError{Records: []record.RecordError{{Index: 1}}}), kerr.InvalidRecord},
		{storage.ErrRecordTooLarge, kerr.MessageTooLarge},
		{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{meta.ErrTopicExists, kerr.TopicAlreadyExists},
		{fmt.Errorf("%w: t-0", replica.ErrNotLeader), kerr.NotLeaderForPartition},
		{fmt.Errorf("%w: t-0", replica.ErrUnknownPartition), kerr.UnknownTopicOrPartition},
		{fmt.Errorf("%w: t-0", replica.ErrFencedEpoch), kerr.FencedLeaderEpoch},
		{fmt.Errorf("%w: t-0", replica.ErrUnknownEpoch), kerr.UnknownLeaderEpoch},
		{fmt.Errorf("%w: x", kerr.InvalidRequest), kerr.InvalidRequest},
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{fmt.Errorf("something else"), kerr.UnknownServerError},
	} {
		if got := kafkaError(c.err); got != c.want {
			t.Errorf("%v: got %v, want %v", c.err, got, c.want)
		}
	}
	if kafkaError(nil) != nil || errorCode(nil) != 0 || errorMessage(nil) != nil {
		t.Error("nil error must map to no error")
	}
	if msg := errorMessage(fmt.Errorf("%w: log t-0: write /d/t-0/0.log: %w", storage.ErrStorage, syscall.ENOSPC)); *msg != "no space left on device" {
		t.Errorf("disk-full message %q", *msg)
	}
}
