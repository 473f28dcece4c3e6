package meta

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/auth"
)

func sampleRecords() map[string]Record {
	return map[string]Record{
		"topic": TopicRecord{ID: [16]byte{1, 2, 3}, Name: "orders", ReplicationFactor: 3,
			Configs: map[string]string{"retention.ms": "1000"},
			Partitions: []Partition{LocalPartition(1),
				{Replicas: []int32{2, 3, 1}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 5}}},
		"internal-topic": TopicRecord{ID: [16]byte{15: 9}, Name: ConsumerOffsetsTopic, ReplicationFactor: 1,
			Internal: true, Configs: map[string]string{}, Partitions: []Partition{LocalPartition(1)}},
		"remove-topic": RemoveTopicRecord{ID: [16]byte{1, 2, 3}},
		"partition": PartitionRecord{TopicID: [16]byte{1, 2, 3}, Index: 2,
			Partition: Partition{Replicas: []int32{1}, ISR: []int32{}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2}},
		"broker-config": ConfigRecord{Type: kmsg.ConfigResourceTypeBroker, Name: "",
			Configs: map[string]string{"log.retention.ms": "5"}},
		"topic-config": ConfigRecord{Type: kmsg.ConfigResourceTypeTopic, Name: "orders", Configs: map[string]string{}},
		"broker":       BrokerRecord{Broker{ID: 3, Host: "h", Port: 9092, Rack: "r1", Epoch: 42}},
		"producer-ids": ProducerIDsRecord{Broker: 2, Start: 1000, End: 2000},
		"broker-fence": BrokerFenceRecord{ID: 3, Epoch: 42, Fenced: true},
		"scram-credential": ScramCredentialRecord{User: "alice", Credential: sampleCredential(auth.ScramSHA512, 3),
			CreateOnly: true},
		"remove-scram-credential": RemoveScramCredentialRecord{User: "alice", Mechanism: auth.ScramSHA256},
		"acl":                     ACLRecord{ID: [16]byte{7, 15: 1}, Binding: sampleBinding("orders-", kmsg.ACLResourcePatternTypePrefixed)},
		"remove-acl":              RemoveACLRecord{ID: [16]byte{7, 15: 1}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, r := range sampleRecords() {
		got, err := DecodeRecord(EncodeRecord(r))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, r)
		}
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := EncodeRecord(sampleRecords()["topic"])
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, good[1:]...),
		"type":          {recordVersion, 0},
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge count":    {recordVersion, byte(typeTopic), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"remove short":  {recordVersion, byte(typeRemoveTopic), 1, 2, 3},
		"config no map": {recordVersion, byte(typeConfig), 4, 0},
		"scram flags":   withLastByte(EncodeRecord(sampleRecords()["scram-credential"]), 2),
		"scram huge salt": {recordVersion, byte(typeScramCredential), 1, 'u', 1, 0, 0, 0x10, 0,
			0xff, 0xff, 0xff, 0xff, 0x0f},
		"remove scram short": {recordVersion, byte(typeRemoveScramCredential), 1, 'u'},
	} {
		if _, err := DecodeRecord(b); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: DecodeRecord = %v, want ErrInvalidRecord", name, err)
		}
	}
}

// sampleCredential is a credential of mechanism m made from a salted
// password of seed bytes (no key derivation: fast enough to fuzz with).
func sampleCredential(m auth.Mechanism, seed byte) auth.Credential {
	salted := bytes.Repeat([]byte{seed}, m.Hash()().Size())
	return auth.FromSaltedPassword(m, salted, []byte{seed, 's', 'a', 'l', 't'}, 4096+int32(seed))
}

func withCredential(c auth.Credential, change func(*auth.Credential)) auth.Credential {
	change(&c)
	return c
}

// withLastByte returns b with its last byte replaced by v.
func withLastByte(b []byte, v byte) []byte {
	b[len(b)-1] = v
	return b
}

// FuzzRecordDecode checks that no input panics DecodeRecord, that what it
// accepts re-encodes to the same bytes, and that Apply of it to an image
// never panics.
func FuzzRecordDecode(f *testing.F) {
	f.Add([]byte{recordVersion, byte(typeTopic)})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again, err := DecodeRecord(EncodeRecord(r))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoding changed the record: %#v, %v; want %#v", again, err, r)
		}
		_, _ = Apply(sampleImageV3(), r)
	})
}

func TestApply(t *testing.T) {
	orders := [16]byte{1, 2, 3}
	for _, tc := range []struct {
		name  string
		r     Record
		want  error
		check func(*Image) bool
	}{
		{"create", topicRecord("new", 2, nil), nil,
			func(img *Image) bool { tp, ok := img.Topic("new"); return ok && len(tp.Assignments) == 2 }},
		{"create existing", TopicRecord{ID: [16]byte{7}, Name: "orders", ReplicationFactor: 1, Partitions: localPartitions(1, 1)},
			ErrTopicExists, nil},
		{"create taken id", TopicRecord{ID: orders, Name: "x", ReplicationFactor: 1, Partitions: localPartitions(1, 1)},
			ErrInvalidRecord, nil},
		{"create zero id", TopicRecord{Name: "x", ReplicationFactor: 1, Partitions: localPartitions(1, 1)}, ErrInvalidRecord, nil},
		{"leader not in sync", TopicRecord{ID: [16]byte{7}, Name: "x", ReplicationFactor: 1,
			Partitions: []Partition{{Replicas: []int32{1}, Leader: 1}}}, ErrInvalidRecord, nil},
		{"replica twice", TopicRecord{ID: [16]byte{7}, Name: "x", ReplicationFactor: 1,
			Partitions: []Partition{{Replicas: []int32{1, 1}, Leader: -1}}}, ErrInvalidRecord, nil},
		{"remove", RemoveTopicRecord{ID: orders}, nil,
			func(img *Image) bool { _, ok := img.Topic("orders"); return !ok && !img.HasTopicID(orders) }},
		{"grow", PartitionRecord{TopicID: orders, Index: 6, Partition: LocalPartition(2)}, nil,
			func(img *Image) bool {
				tp, _ := img.Topic("orders")
				return tp.Partitions == 7 && tp.Assignments[6].Leader == 2
			}},
		{"move leader", PartitionRecord{TopicID: orders, Index: 2,
			Partition: Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 8, PartitionEpoch: 10}}, nil,
			func(img *Image) bool {
				tp, _ := img.Topic("orders")
				return tp.Partitions == 6 && tp.Assignments[2].Leader == 3
			}},
		{"shrink ISR", PartitionRecord{TopicID: orders, Index: 2,
			Partition: Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 7, PartitionEpoch: 10}}, nil,
			func(img *Image) bool {
				tp, _ := img.Topic("orders")
				return slices.Equal(tp.Assignments[2].ISR, []int32{1})
			}},
		{"stale partition epoch", PartitionRecord{TopicID: orders, Index: 2,
			Partition: Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 7, PartitionEpoch: 9}},
			ErrStalePartitionEpoch, nil},
		{"new leader at the same epoch", PartitionRecord{TopicID: orders, Index: 2,
			Partition: Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 7, PartitionEpoch: 10}},
			ErrStalePartitionEpoch, nil},
		{"leader epoch bumped without a new leader", PartitionRecord{TopicID: orders, Index: 2,
			Partition: Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 8, PartitionEpoch: 10}},
			ErrStalePartitionEpoch, nil},
		{"partition gap", PartitionRecord{TopicID: orders, Index: 7, Partition: LocalPartition(1)}, ErrInvalidPartitions, nil},
		{"topic configs", ConfigRecord{Type: kmsg.ConfigResourceTypeTopic, Name: "orders"}, nil,
			func(img *Image) bool { tp, _ := img.Topic("orders"); return tp.Configs != nil && len(tp.Configs) == 0 }},
		{"remove broker configs", ConfigRecord{Type: kmsg.ConfigResourceTypeBroker, Name: "1"}, nil,
			func(img *Image) bool { return img.Configs(ConfigResource{kmsg.ConfigResourceTypeBroker, "1"}) == nil }},
		{"register broker", BrokerRecord{Broker{ID: 3, Host: "h3", Port: 9092, Epoch: 1}}, nil,
			func(img *Image) bool {
				b, ok := img.Broker(3)
				return ok && b.Host == "h3" && b.Fenced && len(img.Brokers()) == 3 && len(img.LiveBrokers()) == 1
			}},
		{"unfence broker", BrokerFenceRecord{ID: 2, Epoch: 1}, nil,
			func(img *Image) bool { return img.Live(2) && len(img.LiveBrokers()) == 2 }},
		{"fence broker", BrokerFenceRecord{ID: 1, Epoch: 3, Fenced: true}, nil,
			func(img *Image) bool { return !img.Live(1) && len(img.LiveBrokers()) == 0 }},
		{"fence an old incarnation", BrokerFenceRecord{ID: 1, Epoch: 2, Fenced: true}, ErrStaleBrokerEpoch, nil},
		{"fence an unknown broker", BrokerFenceRecord{ID: 9, Epoch: 1, Fenced: true}, ErrInvalidRecord, nil},
		{"re-register broker", BrokerRecord{Broker{ID: 1, Host: "moved", Port: 9093, Epoch: 4}}, nil,
			func(img *Image) bool { b, _ := img.Broker(1); return b.Host == "moved" && b.Epoch == 4 }},
		{"stale broker epoch", BrokerRecord{Broker{ID: 1, Host: "old", Port: 9092, Epoch: 3}}, ErrStaleBrokerEpoch, nil},
		{"broker without address", BrokerRecord{Broker{ID: 4, Epoch: 1}}, ErrInvalidRecord, nil},
		{"producer id block", ProducerIDsRecord{Broker: 1, Start: 5000, End: 6000}, nil,
			func(img *Image) bool { return img.NextProducerID() == 6000 }},
		{"stale producer id block", ProducerIDsRecord{Broker: 1, Start: 4000, End: 5000}, ErrStaleProducerIDs, nil},
		{"create a user", ScramCredentialRecord{User: "bob", Credential: sampleCredential(auth.ScramSHA256, 7)}, nil,
			func(img *Image) bool {
				c, ok := img.ScramCredential("bob", auth.ScramSHA256)
				return ok && reflect.DeepEqual(c, sampleCredential(auth.ScramSHA256, 7)) &&
					slices.Equal(img.ScramUsers(), []string{"alice", "bob", "carol"})
			}},
		{"replace a credential", ScramCredentialRecord{User: "alice", Credential: sampleCredential(auth.ScramSHA256, 9)}, nil,
			func(img *Image) bool {
				c, _ := img.ScramCredential("alice", auth.ScramSHA256)
				return c.StoredKey[0] != sampleCredential(auth.ScramSHA256, 1).StoredKey[0] && len(img.ScramCredentials("alice")) == 2
			}},
		{"create only, new", ScramCredentialRecord{User: "carol", Credential: sampleCredential(auth.ScramSHA512, 4), CreateOnly: true}, nil,
			func(img *Image) bool { return len(img.ScramCredentials("carol")) == 2 }},
		{"create only, existing", ScramCredentialRecord{User: "alice", Credential: sampleCredential(auth.ScramSHA512, 4), CreateOnly: true},
			ErrScramCredentialExists, nil},
		{"remove a credential", RemoveScramCredentialRecord{User: "alice", Mechanism: auth.ScramSHA256}, nil,
			func(img *Image) bool {
				_, ok := img.ScramCredential("alice", auth.ScramSHA256)
				creds := img.ScramCredentials("alice")
				return !ok && len(creds) == 1 && creds[0].Mechanism == auth.ScramSHA512
			}},
		{"remove the last credential", RemoveScramCredentialRecord{User: "carol", Mechanism: auth.ScramSHA256}, nil,
			func(img *Image) bool {
				return slices.Equal(img.ScramUsers(), []string{"alice"}) && len(img.ScramCredentials("carol")) == 0
			}},
		{"remove a missing credential", RemoveScramCredentialRecord{User: "carol", Mechanism: auth.ScramSHA512},
			ErrUnknownScramCredential, nil},
		{"remove from a missing user", RemoveScramCredentialRecord{User: "dave", Mechanism: auth.ScramSHA256},
			ErrUnknownScramCredential, nil},
		{"credential without user", ScramCredentialRecord{Credential: sampleCredential(auth.ScramSHA256, 1)}, ErrInvalidRecord, nil},
		{"credential of unknown mechanism", ScramCredentialRecord{User: "bob",
			Credential: withCredential(sampleCredential(auth.ScramSHA256, 1), func(c *auth.Credential) { c.Mechanism = 3 })},
			ErrInvalidRecord, nil},
		{"too few iterations", ScramCredentialRecord{User: "bob",
			Credential: withCredential(sampleCredential(auth.ScramSHA256, 1), func(c *auth.Credential) { c.Iterations = 4095 })},
			ErrInvalidRecord, nil},
		{"too many iterations", ScramCredentialRecord{User: "bob",
			Credential: withCredential(sampleCredential(auth.ScramSHA256, 1), func(c *auth.Credential) { c.Iterations = 16385 })},
			ErrInvalidRecord, nil},
		{"empty salt", ScramCredentialRecord{User: "bob",
			Credential: withCredential(sampleCredential(auth.ScramSHA256, 1), func(c *auth.Credential) { c.Salt = nil })},
			ErrInvalidRecord, nil},
		{"short key", ScramCredentialRecord{User: "bob",
			Credential: withCredential(sampleCredential(auth.ScramSHA512, 1), func(c *auth.Credential) { c.ServerKey = c.ServerKey[:32] })},
			ErrInvalidRecord, nil},
	} {
		img := sampleImageV6()
		before := encodeState(img)
		next, err := Apply(img, tc.r)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: Apply = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if string(encodeState(img)) != string(before) {
			t.Errorf("%s: Apply changed its input", tc.name)
		}
		if err == nil && !tc.check(next) {
			t.Errorf("%s: image after: %+v", tc.name, next.Topics())
		}
	}
}

// TestApplyDeterministic applies the same records to equal images twice
// and expects byte-identical results.
func TestApplyDeterministic(t *testing.T) {
	records := []Record{topicRecord("a", 3, map[string]string{"k": "v"}),
		PartitionRecord{TopicID: [16]byte{1, 2, 3}, Index: 6, Partition: LocalPartition(1)},
		ConfigRecord{Type: kmsg.ConfigResourceTypeGroupConfig, Name: "g", Configs: map[string]string{"x": "1"}},
		RemoveTopicRecord{ID: [16]byte{15: 9}}}
	var out [2][]byte
	for i := range out {
		img := sampleImageV3()
		for _, r := range records {
			var err error
			if img, err = Apply(img, r); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = encodeState(img)
	}
	if string(out[0]) != string(out[1]) {
		t.Error("the same records gave different images")
	}
}

func TestSubscribe(t *testing.T) {
	s := openStore(t, t.TempDir())
	var seen []int
	s.Subscribe(func(prev, next *Image) { seen = append(seen, prev.TopicCount()*10+next.TopicCount()) })
	mustCreate(t, s, "a", 1, nil)
	mustApply(t, s, topicRecord("b", 1, nil), topicRecord("c", 1, nil))
	if _, err := s.Apply(topicRecord("a", 1, nil)); err == nil {
		t.Fatal("duplicate topic applied")
	}
	mustApply(t, s, removeRecord(s, "a"))
	if want := []int{1, 13, 32}; !reflect.DeepEqual(seen, want) {
		t.Errorf("subscriber saw %v, want %v", seen, want)
	}
}
