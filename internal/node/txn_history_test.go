package node_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A Jepsen-style history of transactional writes and read_committed /
// read_uncommitted reads, and checkTxnHistory, a pure function that finds
// the anomalies Jepsen found in Kafka-compatible brokers: aborted reads,
// torn transactions, lost writes, duplicates, non-monotonic and skipping
// reads, and writes ordered against the order their transactions ran in.

// txnOutcome is how a transaction ended, as its client saw it.
type txnOutcome int

const (
	txnCommitted txnOutcome = iota // EndTransaction(TryCommit) returned nil
	txnAborted                     // never asked to commit: aborted, by the client or the coordinator
	txnUnknown                     // a commit whose outcome the client never learned
)

func (o txnOutcome) String() string {
	return [...]string{"committed", "aborted", "unknown"}[o]
}

// txnWrite is one record a transaction produced, in the order produced.
type txnWrite struct {
	Topic     string
	Partition int32
	Value     string
	Acked     bool // the produce was acknowledged (acks=all)
}

// txnOp is one transaction of a history.
type txnOp struct {
	ID       string // p<producer>-t<seq>
	Producer int
	Outcome  txnOutcome
	Writes   []txnWrite
	// Start is when the transaction began (before its first produce);
	// Acked, when its last write was acknowledged, zero unless all were.
	// A transaction that started after another's writes were all
	// acknowledged must follow it in every partition both wrote.
	Start, Acked time.Time
}

// readRecord is one record a consumer read.
type readRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Value     string
}

// txnRead is what one consumer read from the start of every partition, in
// the order it read it.
type txnRead struct {
	Name          string
	ReadCommitted bool
	Records       []readRecord
}

// txnHistory is a whole run. Final and Uncommitted are reads from the
// start, made once every transaction was over, up to the end of every
// partition (read_committed and read_uncommitted); Reads are the
// read_committed consumers that ran during the run.
type txnHistory struct {
	Txns        []txnOp
	Reads       []txnRead
	Final       txnRead
	Uncommitted txnRead
}

// Anomaly kinds.
const (
	anomalyAbortedRead  = "aborted-read"        // a read_committed read saw a record of a transaction that did not commit
	anomalyTorn         = "torn-txn"            // part of a transaction visible at the end, part not
	anomalyLost         = "lost-write"          // a committed transaction, or an acknowledged record, absent at the end
	anomalyDuplicate    = "duplicate"           // one value at two offsets
	anomalyNonMonotonic = "nonmonotonic-read"   // a consumer's offsets in a partition did not increase
	anomalyPollSkip     = "poll-skip"           // a consumer went past a record the final read has without reading it
	anomalyInconsistent = "inconsistent-offset" // two reads saw different values at one offset
	anomalyPhantom      = "phantom"             // a value never written, or read from another partition
	anomalyOrder        = "write-order"         // records ordered against their transactions' order
	anomalyCounts       = "count-mismatch"      // read_uncommitted does not hold read_committed plus the uncommitted records
)

// anomaly is one violation checkTxnHistory found.
type anomaly struct {
	Kind   string
	Detail string
}

func (a anomaly) String() string { return a.Kind + ": " + a.Detail }

// txnSummary counts what a history holds.
type txnSummary struct {
	Committed, Aborted, Unknown       int
	UnknownCommitted, UnknownAborted  int // unknown outcomes as the final read resolves them
	FinalRecords, UncommittedRecords  int
	UncommittedExtra, ConsumerRecords int // read_uncommitted records of uncommitted transactions; read by the consumers during the run
}

func (s txnSummary) String() string {
	return fmt.Sprintf("txns committed %d, aborted %d, unknown %d (%d resolved committed, %d aborted); "+
		"final read_committed %d records, read_uncommitted %d (%d of uncommitted txns); %d records read during the run",
		s.Committed, s.Aborted, s.Unknown, s.UnknownCommitted, s.UnknownAborted,
		s.FinalRecords, s.UncommittedRecords, s.UncommittedExtra, s.ConsumerRecords)
}

// tp names a partition.
type tp struct {
	Topic     string
	Partition int32
}

func (p tp) String() string { return fmt.Sprintf("%s-%d", p.Topic, p.Partition) }

// position is a record's place in the log.
type position struct {
	tp
	Offset int64
}

func (p position) String() string { return fmt.Sprintf("%s@%d", p.tp, p.Offset) }

// writeRef is where a value was written: its transaction and write index.
type writeRef struct{ txn, write int }

// txnChecker holds the indexes checkTxnHistory builds.
type txnChecker struct {
	h       txnHistory
	written map[string]writeRef
	final   map[string]position // value -> where the final read has it
	out     []anomaly
}

func (c *txnChecker) add(kind, format string, args ...any) {
	c.out = append(c.out, anomaly{kind, fmt.Sprintf(format, args...)})
}

// checkTxnHistory returns every anomaly in h, and what h holds.
func checkTxnHistory(h txnHistory) ([]anomaly, txnSummary) {
	c := &txnChecker{h: h, written: map[string]writeRef{}, final: map[string]position{}}
	for i, tx := range h.Txns {
		for j, w := range tx.Writes {
			c.written[w.Value] = writeRef{i, j}
		}
	}
	all := append(append(slices.Clone(h.Reads), h.Final), h.Uncommitted)
	for _, r := range all {
		c.checkRead(r)
	}
	c.checkOffsets(all)
	for _, rec := range h.Final.Records {
		c.final[rec.Value] = position{tp{rec.Topic, rec.Partition}, rec.Offset}
	}
	sum := c.checkTxns()
	for _, r := range h.Reads {
		c.checkPrefix(r)
	}
	c.checkOrder(h.Final)
	c.checkOrder(h.Uncommitted)
	sum.UncommittedExtra = c.checkUncommitted()
	sum.FinalRecords, sum.UncommittedRecords = len(h.Final.Records), len(h.Uncommitted.Records)
	for _, r := range h.Reads {
		sum.ConsumerRecords += len(r.Records)
	}
	return c.out, sum
}

// checkRead checks one consumer's read on its own: offsets increasing in
// each partition, each value written to that partition, nothing of an aborted transaction under read_committed.
func (c *txnChecker) checkRead(r txnRead) {
	last := map[tp]int64{}
	for _, rec := range r.Records {
		p := tp{rec.Topic, rec.Partition}
		if prev, ok := last[p]; ok && rec.Offset <= prev {
			c.add(anomalyNonMonotonic, "%s read %s offset %d after %d", r.Name, p, rec.Offset, prev)
		}
		last[p] = rec.Offset
		pos := position{p, rec.Offset}
		ref, ok := c.written[rec.Value]
		if !ok {
			c.add(anomalyPhantom, "%s read %q at %s, never written", r.Name, rec.Value, pos)
			continue
		}
		tx := c.h.Txns[ref.txn]
		if w := tx.Writes[ref.write]; w.Topic != rec.Topic || w.Partition != rec.Partition {
			c.add(anomalyPhantom, "%s read %q at %s, written to %s", r.Name, rec.Value, pos, tp{w.Topic, w.Partition})
		}
		if r.ReadCommitted && tx.Outcome == txnAborted {
			c.add(anomalyAbortedRead, "%s read %q at %s of aborted %s", r.Name, rec.Value, pos, tx.ID)
		}
	}
}

// checkOffsets checks that all reads agree on the value at each offset
// and on the offset of each value.
func (c *txnChecker) checkOffsets(reads []txnRead) {
	at := map[position]string{}
	where := map[string]position{}
	who := map[position]string{}
	for _, r := range reads {
		for _, rec := range r.Records {
			pos := position{tp{rec.Topic, rec.Partition}, rec.Offset}
			if prev, ok := where[rec.Value]; ok && prev != pos {
				c.add(anomalyDuplicate, "%s read %q at %s, %s at %s", r.Name, rec.Value, pos, who[prev], prev)
			}
			where[rec.Value] = pos
			if v, ok := at[pos]; ok && v != rec.Value {
				c.add(anomalyInconsistent, "%s read %q at %s, %s read %q", r.Name, rec.Value, pos, who[pos], v)
				continue
			}
			at[pos], who[pos] = rec.Value, r.Name
		}
	}
}

// checkTxns checks each transaction against the final read: all or none
// of it visible, all of it if it committed, none if it aborted; an
// unknown outcome is resolved by what is visible.
func (c *txnChecker) checkTxns() txnSummary {
	var sum txnSummary
	for _, tx := range c.h.Txns {
		var visible, missing []string
		for _, w := range tx.Writes {
			if _, ok := c.final[w.Value]; ok {
				visible = append(visible, w.Value)
			} else {
				missing = append(missing, w.Value)
			}
		}
		switch tx.Outcome {
		case txnCommitted:
			sum.Committed++
		case txnAborted:
			sum.Aborted++
		case txnUnknown:
			sum.Unknown++
			if len(missing) == 0 {
				sum.UnknownCommitted++
			} else if len(visible) == 0 {
				sum.UnknownAborted++
				c.checkNotRead(tx)
			}
		}
		switch {
		case len(visible) > 0 && len(missing) > 0 && tx.Outcome != txnAborted:
			c.add(anomalyTorn, "%s (%s): final read has %q, lacks %q", tx.ID, tx.Outcome, visible, missing)
		case len(visible) == 0 && len(tx.Writes) > 0 && tx.Outcome == txnCommitted:
			c.add(anomalyLost, "%s committed, final read has none of %q", tx.ID, missing)
		}
	}
	return sum
}

// checkNotRead flags reads of an unknown-outcome transaction the final
// read shows aborted.
func (c *txnChecker) checkNotRead(tx txnOp) {
	for _, r := range c.h.Reads {
		for _, rec := range r.Records {
			if ref, ok := c.written[rec.Value]; ok && c.h.Txns[ref.txn].ID == tx.ID {
				c.add(anomalyAbortedRead, "%s read %q of %s, an unknown outcome the final read shows aborted", r.Name, rec.Value, tx.ID)
			}
		}
	}
}

// checkPrefix checks that a consumer's read of each partition is a prefix
// of the final read's: it skipped nothing the final read has below the
// last offset it read there.
func (c *txnChecker) checkPrefix(r txnRead) {
	read := map[position]bool{}
	last := map[tp]int64{}
	for _, rec := range r.Records {
		p := tp{rec.Topic, rec.Partition}
		read[position{p, rec.Offset}] = true
		last[p] = max(last[p], rec.Offset)
	}
	for _, rec := range c.h.Final.Records {
		p := tp{rec.Topic, rec.Partition}
		if l, ok := last[p]; ok && rec.Offset < l && !read[position{p, rec.Offset}] {
			c.add(anomalyPollSkip, "%s read %s up to %d without %q at %d", r.Name, p, l, rec.Value, rec.Offset)
		}
	}
}

// span is the offsets a transaction's records take in one partition.
type span struct{ first, last int64 }

// checkOrder checks write order in a read from the start: a transaction's
// records in one partition in the order it produced them, and a
// transaction that started after another's writes were all acknowledged
// after it in every partition both wrote.
func (c *txnChecker) checkOrder(r txnRead) {
	spans := map[int]map[tp]span{} // txn index -> partition -> offsets
	lastWrite := map[int]map[tp]int{}
	// In log order: a read out of order is flagged by checkRead.
	recs := slices.SortedFunc(slices.Values(r.Records), func(a, b readRecord) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	for _, rec := range recs {
		ref, ok := c.written[rec.Value]
		if !ok {
			continue
		}
		p := tp{rec.Topic, rec.Partition}
		if spans[ref.txn] == nil {
			spans[ref.txn], lastWrite[ref.txn] = map[tp]span{}, map[tp]int{}
		}
		if prev, ok := lastWrite[ref.txn][p]; ok && ref.write < prev {
			c.add(anomalyOrder, "%s: %s has %s's write %d after its write %d", r.Name, p, c.h.Txns[ref.txn].ID, ref.write, prev)
		}
		lastWrite[ref.txn][p] = ref.write
		s, ok := spans[ref.txn][p]
		if !ok {
			s = span{rec.Offset, rec.Offset}
		}
		spans[ref.txn][p] = span{min(s.first, rec.Offset), max(s.last, rec.Offset)}
	}
	for a, sa := range spans {
		ta := c.h.Txns[a]
		if ta.Acked.IsZero() {
			continue
		}
		for b, sb := range spans {
			tb := c.h.Txns[b]
			if a == b || !ta.Acked.Before(tb.Start) {
				continue
			}
			for p, x := range sa {
				if y, ok := sb[p]; ok && x.last > y.first {
					c.add(anomalyOrder, "%s: %s has %s (offsets %d-%d) after %s (%d-%d), which started after it was acknowledged",
						r.Name, p, ta.ID, x.first, x.last, tb.ID, y.first, y.last)
				}
			}
		}
	}
}

// checkUncommitted checks the read_uncommitted read against the final
// read_committed one: it holds every record of the final read, at the
// same offset; the rest are of transactions that did not commit; and
// every acknowledged write, committed or not, is in it. It returns how
// many records of transactions that did not commit it holds.
func (c *txnChecker) checkUncommitted() int {
	u := c.h.Uncommitted
	in := map[string]position{}
	for _, rec := range u.Records {
		in[rec.Value] = position{tp{rec.Topic, rec.Partition}, rec.Offset}
	}
	for _, rec := range c.h.Final.Records {
		if pos, ok := in[rec.Value]; !ok || pos.Offset != rec.Offset {
			c.add(anomalyCounts, "%s lacks %q, read_committed at %s", u.Name, rec.Value, c.final[rec.Value])
		}
	}
	extra := 0
	for _, rec := range u.Records {
		if _, ok := c.final[rec.Value]; ok {
			continue
		}
		extra++
		if ref, ok := c.written[rec.Value]; ok && c.h.Txns[ref.txn].Outcome == txnCommitted {
			c.add(anomalyCounts, "%s has %q of committed %s, read_committed does not", u.Name, rec.Value, c.h.Txns[ref.txn].ID)
		}
	}
	var lost []string
	for _, tx := range c.h.Txns {
		for _, w := range tx.Writes {
			if _, ok := in[w.Value]; w.Acked && !ok {
				lost = append(lost, fmt.Sprintf("%s (%s)", w.Value, tx.Outcome))
			}
		}
	}
	if len(lost) > 0 {
		c.add(anomalyLost, "%d acknowledged writes not in %s: %s", len(lost), u.Name, strings.Join(lost[:min(len(lost), 10)], ", "))
	}
	return extra
}
