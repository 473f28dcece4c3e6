package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record"
)

// Versions of the __consumer_offsets records written (Kafka's own: the key
// version tells the record kind, docs/format/group.md).
const (
	offsetKeyVersion   = 1 // OffsetCommitKey (0 and 1 are offset keys)
	groupKeyVersion    = 2 // GroupMetadataKey
	offsetValueVersion = 3 // OffsetCommitValue with leader epoch, no expire timestamp
	groupValueVersion  = 3 // GroupMetadataValue with instance ids
)

var (
	errBadRecord     = errors.New("group: bad __consumer_offsets record")
	errUnknownRecord = errors.New("group: __consumer_offsets record of an unknown kind")
)

// offsetRecord is the record of a committed offset; a nil value (o == nil)
// is the tombstone of a deleted or expired one.
func offsetRecord(groupID string, tp topicPartition, o *offsetEntry) record.Record {
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = offsetKeyVersion, groupID, tp.topic, tp.partition
	rec := record.Record{Key: k.AppendTo(nil)}
	if o != nil {
		v := kmsg.NewOffsetCommitValue()
		v.Version, v.Offset, v.LeaderEpoch, v.Metadata = offsetValueVersion, o.offset, o.leaderEpoch, o.metadata
		v.CommitTimestamp = o.commitTime
		rec.Value = v.AppendTo(nil)
	}
	return rec
}

// groupRecord is the metadata record of g; nil g is a deleted group's
// tombstone.
func groupRecord(groupID string, v *kmsg.GroupMetadataValue) record.Record {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = groupKeyVersion, groupID
	rec := record.Record{Key: k.AppendTo(nil)}
	if v != nil {
		v.Version = groupValueVersion
		rec.Value = v.AppendTo(nil)
	}
	return rec
}

// replayer is what a log replay feeds.
type replayer interface {
	replayOffset(groupID string, tp topicPartition, v *kmsg.OffsetCommitValue)
	replayGroup(groupID string, v *kmsg.GroupMetadataValue)
	replayConsumer(rec consumerRecord)
}

// replayRecord applies one __consumer_offsets record: the latest record per
// key wins and a nil value deletes. Records of kinds this coordinator does
// not know (share and streams groups, regular expressions, future kinds)
// are skipped with an errUnknownRecord.
func replayRecord(c replayer, key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	switch version := int16(key[0])<<8 | int16(key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("%w: offset key: %v", errBadRecord, err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		if value == nil {
			c.replayOffset(k.Group, tp, nil)
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("%w: offset value: %v", errBadRecord, err)
		}
		c.replayOffset(k.Group, tp, &v)
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("%w: group key: %v", errBadRecord, err)
		}
		if value == nil {
			c.replayGroup(k.Group, nil)
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("%w: group value: %v", errBadRecord, err)
		}
		c.replayGroup(k.Group, &v)
	case cgMetadataKeyVersion, cgPartitionMetadataKeyVersion, cgMemberKeyVersion,
		cgTargetMetadataKeyVersion, cgTargetMemberKeyVersion, cgCurrentKeyVersion:
		rec, err := decodeConsumerRecord(version, key, value)
		if err != nil {
			return fmt.Errorf("%w: %v", errBadRecord, err)
		}
		c.replayConsumer(rec)
	default:
		return fmt.Errorf("%w: key version %d", errUnknownRecord, version)
	}
	return nil
}

// replayBatch applies the records of one batch: a transactional batch's
// offsets wait for their producer's marker, which commits or drops them.
// Undecodable batches are skipped.
func (c *coordinator) replayBatch(batch []byte) {
	h, recs, err := record.Records(batch)
	if err != nil {
		c.log.Warn("skipping undecodable __consumer_offsets batch", "offset", h.BaseOffset, "err", err)
		return
	}
	if h.IsControl() {
		m, ok, err := record.ParseEndTxnMarker(batch)
		if err != nil {
			c.log.Warn("skipping undecodable transaction marker", "offset", h.BaseOffset, "err", err)
		}
		if ok {
			c.completeTxn(time.Time{}, h.ProducerID, m.Commit)
		}
		return
	}
	for _, rec := range recs {
		if h.IsTransactional() && c.replayTxnRecord(h.ProducerID, rec) {
			continue
		}
		err := replayRecord(c, rec.Key, rec.Value)
		if errors.Is(err, errUnknownRecord) {
			if c.skipped == nil {
				c.skipped = make(map[int16]int)
			}
			c.skipped[int16(rec.Key[0])<<8|int16(rec.Key[1])]++
			continue
		}
		if err != nil {
			c.log.Warn("skipping __consumer_offsets record", "offset", h.BaseOffset+int64(rec.OffsetDelta), "err", err)
		}
	}
}

// replayTxnRecord applies an offset record of producerID's transaction as
// pending, and reports whether it was one.
func (c *coordinator) replayTxnRecord(producerID int64, rec record.Record) bool {
	if len(rec.Key) < 2 || rec.Value == nil || (rec.Key[0] != 0 || rec.Key[1] > 1) {
		return false
	}
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if k.ReadFrom(rec.Key) != nil || v.ReadFrom(rec.Value) != nil {
		return false // replayRecord reports it
	}
	c.replayTxnOffset(producerID, k.Group, topicPartition{k.Topic, k.Partition}, &v)
	return true
}
