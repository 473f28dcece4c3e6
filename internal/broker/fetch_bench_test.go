package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// BenchmarkFetchAssembly measures building a Fetch answer from a log: index
// lookup, header scan and chunk ranges, up to 1 MiB per request. The bytes
// themselves go out by sendfile, so they are not copied here.
func BenchmarkFetchAssembly(b *testing.B) {
	br := newConfigBroker(b, nil, nil)
	l := br.logs.Log("t", 0)
	const batches, perBatch = 512, 16
	for i := 0; i < batches; i++ {
		batch := recordtest.Batch(recordtest.Options{BaseTimestamp: time.Now().UnixMilli()}, recordtest.Values(perBatch, 1024))
		if _, err := l.Append(context.Background(), batch, storage.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes, req.MinBytes = 1<<20, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	r := &Request{Msg: req}
	b.ReportAllocs()
	b.ResetTimer()
	var total int64
	for i := 0; i < b.N; i++ {
		req.Topics[0].Partitions[0].FetchOffset = int64(i*perBatch) % (batches * perBatch / 2)
		resp, err := br.Handle(context.Background(), r)
		if err != nil || len(resp.Splices) != 1 {
			b.Fatalf("fetch: %v, %d splices", err, len(resp.Splices))
		}
		total += chunksLen(resp.Splices[0].Chunks)
	}
	b.SetBytes(total / int64(b.N))
}
