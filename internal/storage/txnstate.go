package storage

import (
	"slices"
	"sort"
)

// txnSpan is a transaction that holds the last stable offset back: one
// still open (last = -1), or one whose marker at last is not below the
// high watermark yet. Until its marker is replicated a new leader might
// not have it, and would see the transaction open again; so, like Kafka's
// unreplicated transactions, it stays unstable until then.
type txnSpan struct {
	producerID  int64
	first, last int64
}

// unstableTxns is the list of spans, ordered by first offset. It is
// guarded by Log.mu (and owned by the opener before the log is shared).
type unstableTxns []txnSpan

// fromProducers lists the open transactions of p.
func fromProducers(p producers) unstableTxns {
	var u unstableTxns
	for id, e := range p {
		if e.txnFirst >= 0 {
			u = append(u, txnSpan{producerID: id, first: e.txnFirst, last: -1})
		}
	}
	sort.Slice(u, func(i, j int) bool { return u[i].first < u[j].first })
	return u
}

// apply updates the list with a transaction begun or ended, dropping one
// ended below hw.
func (u *unstableTxns) apply(ev txnEvent, hw int64) {
	switch ev.kind {
	case txnBegin:
		i := sort.Search(len(*u), func(i int) bool { return (*u)[i].first > ev.first })
		*u = slices.Insert(*u, i, txnSpan{producerID: ev.producerID, first: ev.first, last: -1})
	case txnEnd:
		i := slices.IndexFunc(*u, func(s txnSpan) bool { return s.producerID == ev.producerID && s.last < 0 })
		switch {
		case i < 0: // its start is below the log start or was never seen
		case ev.last < hw:
			*u = slices.Delete(*u, i, i+1)
		default:
			(*u)[i].last = ev.last
		}
	}
}

// prune drops the spans whose marker is below hw.
func (u *unstableTxns) prune(hw int64) {
	*u = slices.DeleteFunc(*u, func(s txnSpan) bool { return s.last >= 0 && s.last < hw })
}

// cut drops the spans that begin at or after end (a truncation removed
// them) and reopens those whose marker it removed.
func (u *unstableTxns) cut(end int64) {
	*u = slices.DeleteFunc(*u, func(s txnSpan) bool { return s.first >= end })
	for i := range *u {
		if (*u)[i].last >= end {
			(*u)[i].last = -1
		}
	}
}

// first returns the first offset of the earliest unstable span, or -1.
func (u unstableTxns) first(hw int64) int64 {
	for _, s := range u {
		if s.last < 0 || s.last >= hw {
			return s.first
		}
	}
	return -1
}

// stageTxn adds a batch's transaction event to the group: an ABORT's entry
// goes to the transaction index of the segment the marker was staged in.
func (g *group) stageTxn(ev txnEvent) {
	if ev.kind == txnNone {
		return
	}
	g.txns = append(g.txns, ev)
	if ev.kind == txnEnd && ev.aborted {
		p := g.cur()
		p.st.aborted = append(p.st.aborted, ev.entry)
	}
}

// LastStableOffset returns the offset below which every transaction is
// decided and its marker replicated: the first offset of the earliest
// unstable transaction, if below the high watermark, else the high
// watermark; never below the log start offset. read_committed consumers
// read up to it. Without transactions it equals HighWatermark.
func (l *Log) LastStableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lsoLocked()
}

func (l *Log) lsoLocked() int64 {
	hw := l.hwLocked()
	if f := l.mu.txns.first(hw); f >= 0 {
		return min(max(f, l.mu.logStart), hw)
	}
	return hw
}

// publishTxnsLocked applies a published group's transaction events.
func (l *Log) publishTxnsLocked(evs []txnEvent) {
	hw := l.hwLocked()
	for _, ev := range evs {
		l.mu.txns.apply(ev, hw)
	}
	l.mu.txns.prune(hw)
}
