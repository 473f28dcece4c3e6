package node_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnAnomalies is a Jepsen-style run of transactions on a three-node
// process cluster: transactional producers write random transactions over
// two topics (three replicas, min.insync.replicas=2) and commit or abort
// them at random, read_committed consumers read everything, and meanwhile
// the node coordinating a producer's transactional id, or a partition's
// leader, is killed with SIGKILL and restarted. Then every partition gets
// an end marker record, the consumers read up to them, a read_committed and
// a read_uncommitted reader read everything again, and checkTxnHistory
// looks for aborted reads, torn transactions, lost writes, duplicates,
// non-monotonic or skipping reads and misordered writes.
//
// The random choices come from EDDY_TXN_SEED, or the clock; the seed is
// logged so that a failure's choices can be made again (the timing, and so
// the interleaving, differs between runs). EDDY_TXN_LOG names a file to
// write the run's log to: each transaction as its client saw it, the
// kills, and the clients' errors.
func TestTxnAnomalies(t *testing.T) {
	p := txnRunParams{producers: 4, kills: 5, minTxns: 30, minRun: 20 * time.Second}
	if testing.Short() {
		p = txnRunParams{producers: 3, kills: 1, minTxns: 10, minRun: 5 * time.Second}
	}
	p.seed = txnSeed(t)
	h, events := runTxnWorkload(t, p)
	if path := os.Getenv("EDDY_TXN_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(events.String()), 0o644); err != nil {
			t.Errorf("writing the run's log: %v", err)
		}
	}
	found, sum := checkTxnHistory(h)
	t.Logf("seed %d: %s", p.seed, sum)
	if sum.Committed == 0 || sum.Aborted == 0 || sum.FinalRecords == 0 {
		t.Errorf("seed %d: the run proves little: %s", p.seed, sum)
	}
	if len(found) == 0 {
		return
	}
	for _, a := range found[:min(len(found), 50)] {
		t.Errorf("seed %d: %s", p.seed, a)
	}
	t.Errorf("seed %d: %d anomalies", p.seed, len(found))
}

// txnRunParams size a run.
type txnRunParams struct {
	seed      uint64
	producers int
	kills     int
	minTxns   int           // each producer runs at least this many transactions
	minRun    time.Duration // and the producers run at least this long
}

// txnSeed is EDDY_TXN_SEED, or the clock's nanoseconds.
func txnSeed(t *testing.T) uint64 {
	if s := os.Getenv("EDDY_TXN_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EDDY_TXN_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

var txnAnomalyTopics = []string{"txa", "txb"}

const txnAnomalyPartitions = 4

// runTxnWorkload runs the cluster, producers, consumers and faults of one
// run and returns its history, and a log of what happened in it.
func runTxnWorkload(t *testing.T, p txnRunParams) (txnHistory, *syncBuffer) {
	t.Logf("seed %d (EDDY_TXN_SEED=%d reproduces the choices): %d producers, %d kills", p.seed, p.seed, p.producers, p.kills)
	c := newProcCluster(t, 3, "transaction.abort.timed.out.transaction.cleanup.interval.ms=100")
	adm := kadm.NewClient(c.client())
	for _, topic := range txnAnomalyTopics {
		createTopicRF(t, adm, topic, txnAnomalyPartitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	}
	c.waitAllISR(adm)

	events := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Goroutines log to events, never to t: they may outlive a failed test
	// until this cleanup, which runs before the cluster's.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			log := events.String()
			t.Logf("seed %d, the run's log (its end):\n%s", p.seed, log[max(len(log)-20000, 0):])
		}
	})
	// The consumers stop at the end markers, or a minute after they are
	// written: one that cannot reach them is reported with what it read.
	readCtx, readCancel := context.WithCancel(ctx)
	defer readCancel()
	readers := make([]*txnReader, 2)
	for i := range readers {
		readers[i] = newTxnReader(c, fmt.Sprintf("consumer-%d", i), true, events)
		wg.Go(func() { readers[i].run(readCtx) })
	}
	workers := make([]*txnWorker, p.producers)
	for i := range workers {
		workers[i] = newTxnWorker(c, i, rand.New(rand.NewPCG(p.seed, uint64(i+1))), events)
		wg.Go(func() { workers[i].run(ctx, stop, p.minTxns) })
	}
	started := time.Now()
	injectTxnFaults(t, c, adm, rand.New(rand.NewPCG(p.seed, 0)), p, events)
	if rest := p.minRun - time.Since(started); rest > 0 {
		time.Sleep(rest)
	}
	close(stop)
	h := txnHistory{}
	for _, w := range workers {
		<-w.done
		h.Txns = append(h.Txns, w.txns...)
	}
	writeEndMarkers(t, c)
	logEvent(events, "end markers written")
	time.AfterFunc(time.Minute, readCancel)
	for _, r := range readers {
		h.Reads = append(h.Reads, r.result(t))
	}
	final := newTxnReader(c, "final", true, events)
	final.run(readCtx)
	h.Final = final.result(t)
	uncommitted := newTxnReader(c, "uncommitted", false, events)
	uncommitted.run(readCtx)
	h.Uncommitted = uncommitted.result(t)
	return h, events
}

// waitAllISR waits until every partition of the test's topics has its
// full ISR, so that the next kill leaves each with min.insync.replicas.
func (c *procCluster) waitAllISR(adm *kadm.Client) {
	c.t.Helper()
	for _, topic := range txnAnomalyTopics {
		for p := range int32(txnAnomalyPartitions) {
			c.waitFullISR(adm, topic, p)
		}
	}
}

// injectTxnFaults kills p.kills times, with SIGKILL, the node coordinating
// a random producer's transactional id or leading a random partition, and
// restarts it a moment later, while the producers run.
func injectTxnFaults(t *testing.T, c *procCluster, adm *kadm.Client, rng *rand.Rand, p txnRunParams, events *syncBuffer) {
	t.Helper()
	for k := range p.kills {
		time.Sleep(time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
		victim, what := txnVictim(c, adm, rng, p.producers)
		if victim < 1 {
			t.Fatalf("kill %d: cannot tell %s", k+1, what)
		}
		logEvent(events, "kill -9 node %d, %s", victim, what)
		t.Logf("kill %d: node %d, %s", k+1, victim, what)
		c.nodes[victim-1].kill()
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
		c.restart(int(victim - 1))
		c.waitLive()
		c.waitAllISR(adm)
		logEvent(events, "node %d back, every ISR full", victim)
	}
}

// txnVictim picks the coordinator of a producer's transactional id or a
// partition's leader.
func txnVictim(c *procCluster, adm *kadm.Client, rng *rand.Rand, producers int) (int32, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rng.IntN(2) == 0 {
		id := txnIDOf(rng.IntN(producers))
		coord, ok := adm.FindTxnCoordinators(ctx, id)[id]
		if !ok || coord.Err != nil {
			return -1, "the coordinator of " + id
		}
		return coord.NodeID, "the coordinator of " + id
	}
	topic, part := txnAnomalyTopics[rng.IntN(len(txnAnomalyTopics))], rng.Int32N(txnAnomalyPartitions)
	leader, _ := c.partitionState(adm, topic, part)
	return leader, fmt.Sprintf("the leader of %s-%d", topic, part)
}

func txnIDOf(producer int) string { return fmt.Sprintf("eddy-anomaly-p%d", producer) }

// logEvent appends a timestamped line to the run's log.
func logEvent(events *syncBuffer, format string, args ...any) {
	fmt.Fprintf(events, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// endMarker is the value of the record written to each partition once
// the transactions are over; readers read up to it.
func endMarker(topic string, p int32) string { return fmt.Sprintf("end-%s-%d", topic, p) }

// writeEndMarkers writes each partition's end marker, non-transactionally
// at acks=all. It is visible to read_committed only once the last stable
// offset passes it: once every transaction before it is over.
func writeEndMarkers(t *testing.T, c *procCluster) {
	t.Helper()
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, topic := range txnAnomalyTopics {
		for p := range int32(txnAnomalyPartitions) {
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(endMarker(topic, p))}
			if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
				t.Fatalf("writing the end marker of %s-%d: %v", topic, p, err)
			}
		}
	}
}

// txnWorker is one transactional producer of a run.
type txnWorker struct {
	c      *procCluster
	n      int
	rng    *rand.Rand
	events *syncBuffer
	cl     *kgo.Client
	dirty  bool // the client's state is unknown: replace it before going on
	txns   []txnOp
	done   chan struct{}
}

func newTxnWorker(c *procCluster, n int, rng *rand.Rand, events *syncBuffer) *txnWorker {
	return &txnWorker{c: c, n: n, rng: rng, events: events, dirty: true, done: make(chan struct{})}
}

// opts are the producer's client options. Odd producers give up retrying
// after a second, shorter than a failover: their commits sent around a
// kill end with an error, whose outcome the client does not know, which
// exercises the recovery franz-go documents (and the checker's unknowns).
func (w *txnWorker) opts() []kgo.Opt {
	retry := 20 * time.Second
	if w.n%2 == 1 {
		retry = time.Second
	}
	return []kgo.Opt{kgo.SeedBrokers(w.c.kafka...), kgo.TransactionalID(txnIDOf(w.n)),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(15 * time.Second), kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryTimeout(retry), kgo.RecordDeliveryTimeout(20 * time.Second)}
}

// run runs transactions until stop is closed and it has run minTxns.
func (w *txnWorker) run(ctx context.Context, stop <-chan struct{}, minTxns int) {
	defer close(w.done)
	defer func() {
		if w.cl != nil {
			w.cl.Close()
		}
	}()
	for seq := 0; ctx.Err() == nil; seq++ {
		select {
		case <-stop:
			if seq >= minTxns {
				// Leave nothing open: a new client of the id ends what
				// an unconfirmed transaction left.
				for i := 0; w.dirty && i < 5; i++ {
					w.reset(ctx)
				}
				return
			}
		default:
		}
		if w.dirty && !w.reset(ctx) {
			time.Sleep(200 * time.Millisecond)
		}
		tx := w.runTxn(ctx, seq)
		w.txns = append(w.txns, tx)
		logEvent(w.events, "%s", describeTxnOp(tx))
	}
}

// reset replaces the client with a new one of the same transactional id,
// whose InitProducerId fences the old one and ends its transaction.
func (w *txnWorker) reset(ctx context.Context) bool {
	if w.cl != nil {
		w.cl.Close()
	}
	cl, err := kgo.NewClient(w.opts()...)
	if err != nil {
		panic(err) // the options are fixed
	}
	w.cl = cl
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		logEvent(w.events, "%s: a new producer: %v", txnIDOf(w.n), err)
		return false
	}
	w.dirty = false
	return true
}

// runTxn runs transaction seq: one to five records, each to a random
// partition, produced at once, then a commit or (three times in ten) an
// abort, and returns it as the client saw it.
func (w *txnWorker) runTxn(ctx context.Context, seq int) txnOp {
	tx := txnOp{ID: fmt.Sprintf("p%d-t%d", w.n, seq), Producer: w.n, Outcome: txnAborted}
	for i := range 1 + w.rng.IntN(5) {
		topic := txnAnomalyTopics[w.rng.IntN(len(txnAnomalyTopics))]
		tx.Writes = append(tx.Writes, txnWrite{Topic: topic, Partition: w.rng.Int32N(txnAnomalyPartitions),
			Value: fmt.Sprintf("%s-%d", tx.ID, i)})
	}
	commit := w.rng.IntN(10) >= 3
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tx.Start = time.Now()
	if err := w.cl.BeginTransaction(); err != nil {
		logEvent(w.events, "%s: begin: %v", tx.ID, err)
		w.dirty = true
		return tx
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tx.Writes))
	for i, wr := range tx.Writes {
		wg.Add(1)
		w.cl.Produce(ctx, &kgo.Record{Topic: wr.Topic, Partition: wr.Partition, Value: []byte(wr.Value)},
			func(_ *kgo.Record, err error) { errs[i] = err; wg.Done() })
	}
	w.await(ctx, &wg)
	acked := true
	for i, err := range errs {
		tx.Writes[i].Acked = err == nil
		if err != nil {
			acked = false
			logEvent(w.events, "%s: produce %s: %v", tx.ID, tx.Writes[i].Value, err)
		}
	}
	if acked {
		tx.Acked = time.Now()
	}
	if !acked || !commit {
		w.abort(ctx, tx.ID)
		return tx
	}
	err := w.cl.EndTransaction(ctx, kgo.TryCommit)
	switch {
	case err == nil:
		tx.Outcome = txnCommitted
	case errors.Is(err, kerr.OperationNotAttempted):
		// Refused before any EndTxn was sent: not committed.
		logEvent(w.events, "%s: commit not attempted: %v", tx.ID, err)
		w.abort(ctx, tx.ID)
	default:
		// franz-go: the outcome of a commit that returned an error is
		// unknown; retry with TryAbort, which fences what is still open.
		tx.Outcome = txnUnknown
		logEvent(w.events, "%s: commit: %v", tx.ID, err)
		w.abort(ctx, tx.ID)
	}
	return tx
}

// await waits for the transaction's produces. franz-go may hold a record
// past its context and delivery timeout (seen with the cluster left without
// a quorum); closing the client then fails it, so a run always ends.
func (w *txnWorker) await(ctx context.Context, wg *sync.WaitGroup) {
	acked := make(chan struct{})
	go func() { wg.Wait(); close(acked) }()
	select {
	case <-acked:
	case <-ctx.Done():
		logEvent(w.events, "%s: produces outlived their context: closing the client", txnIDOf(w.n))
		w.cl.Close()
		w.dirty = true
		<-acked
	}
}

// abort ends the open transaction with TryAbort; when that fails too, the
// client is replaced before the next transaction.
func (w *txnWorker) abort(ctx context.Context, id string) {
	if err := w.cl.AbortBufferedRecords(ctx); err != nil {
		logEvent(w.events, "%s: aborting buffered records: %v", id, err)
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		logEvent(w.events, "%s: abort: %v", id, err)
		w.dirty = true
	}
}

// describeTxnOp is one line of the run's log for a transaction.
func describeTxnOp(tx txnOp) string {
	var ws []string
	for _, w := range tx.Writes {
		mark := ""
		if !w.Acked {
			mark = " (unacked)"
		}
		ws = append(ws, fmt.Sprintf("%s-%d:%s%s", w.Topic, w.Partition, w.Value, mark))
	}
	return fmt.Sprintf("%s %s [%s]", tx.ID, tx.Outcome, strings.Join(ws, " "))
}

// txnReader reads every partition of the test's topics from the start
// until it has read each partition's end marker.
type txnReader struct {
	name    string
	read    txnRead
	cl      *kgo.Client
	events  *syncBuffer
	ends    map[tp]bool
	errs    []error
	done    chan struct{}
	stopped error
}

func newTxnReader(c *procCluster, name string, committed bool, events *syncBuffer) *txnReader {
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...), kgo.ConsumeTopics(txnAnomalyTopics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		panic(err) // the options are fixed
	}
	return &txnReader{name: name, read: txnRead{Name: name, ReadCommitted: committed}, cl: cl,
		events: events, ends: map[tp]bool{}, done: make(chan struct{})}
}

func (r *txnReader) run(ctx context.Context) {
	defer close(r.done)
	defer r.cl.Close()
	for len(r.ends) < len(txnAnomalyTopics)*txnAnomalyPartitions {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.stopped = ctx.Err()
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			logEvent(r.events, "%s: fetch %s-%d: %v", r.name, topic, p, err)
			r.errs = append(r.errs, fmt.Errorf("%s-%d: %w", topic, p, err))
		})
		fs.EachRecord(func(rec *kgo.Record) {
			if string(rec.Value) == endMarker(rec.Topic, rec.Partition) {
				r.ends[tp{rec.Topic, rec.Partition}] = true
				return
			}
			r.read.Records = append(r.read.Records, readRecord{rec.Topic, rec.Partition, rec.Offset, string(rec.Value)})
		})
	}
}

// result waits for the reader and returns what it read, failing the test
// if it did not reach every end marker or franz-go saw data loss.
func (r *txnReader) result(t *testing.T) txnRead {
	t.Helper()
	<-r.done
	if r.stopped != nil {
		t.Errorf("%s read %d records and %d of %d end markers: %v", r.name, len(r.read.Records), len(r.ends),
			len(txnAnomalyTopics)*txnAnomalyPartitions, r.stopped)
	}
	for _, err := range r.errs {
		var loss *kgo.ErrDataLoss
		if errors.As(err, &loss) {
			t.Errorf("%s: %v", r.name, err)
		}
	}
	return r.read
}
