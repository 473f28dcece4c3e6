package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/eddy-streaming/eddy/internal/record"
)

// txnTracker follows transactions through one pass over a log in offset
// order, as Kafka's CleanedTransactionMetadata does. It says which data
// batches belong to aborted transactions (the cleaner drops them and
// leaves them out of the key map), and whether a marker's transaction
// still has data below it: then the marker must stay, or a replay of
// producer state would see that data's transaction open forever and a
// read_committed reader could not tell aborted data from committed. It
// collects the transaction index entries of the ABORT markers whose data
// it met: the entries a cleaned segment still needs.
type txnTracker struct {
	pending   []AbortedTxn          // every aborted transaction, by first offset
	next      int                   // pending[next:] not begun yet
	aborted   map[int64]*abortedRun // producer → its aborted transaction under way
	committed map[int64]bool        // producer → a batch of its current, not aborted, transaction was met
	pins      map[int64]int64       // producer → offset from which its first marker must stay
	kept      []AbortedTxn          // entries of the markers met since takeKept
}

// abortedRun is an aborted transaction the pass is inside of.
type abortedRun struct {
	e    AbortedTxn
	seen bool // a batch of it was met
}

// newTxnTracker starts a pass over a log whose segments hold the aborted
// transactions of sts. pins are the producers whose transaction the
// producer snapshot on disk holds open (see snapshotPins).
func newTxnTracker(sts []segState, pins map[int64]int64) *txnTracker {
	t := &txnTracker{aborted: map[int64]*abortedRun{}, committed: map[int64]bool{}, pins: pins}
	for _, st := range sts {
		t.pending = append(t.pending, st.aborted...)
	}
	sort.SliceStable(t.pending, func(i, j int) bool { return t.pending[i].FirstOffset < t.pending[j].FirstOffset })
	return t
}

// begin starts the aborted transactions whose first offset is at or
// below upTo.
func (t *txnTracker) begin(upTo int64) {
	for ; t.next < len(t.pending) && t.pending[t.next].FirstOffset <= upTo; t.next++ {
		e := t.pending[t.next]
		if r := t.aborted[e.ProducerID]; r == nil || r.e.LastOffset < e.FirstOffset {
			t.aborted[e.ProducerID] = &abortedRun{e: e}
		}
	}
}

// data takes the next data batch and says whether it belongs to an
// aborted transaction.
func (t *txnTracker) data(h record.BatchHeader) bool {
	t.begin(h.LastOffset())
	if !h.IsTransactional() || h.ProducerID < 0 {
		return false
	}
	if r := t.aborted[h.ProducerID]; r != nil && h.BaseOffset <= r.e.LastOffset {
		r.seen = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// marker takes the next control batch and says whether its transaction
// has no data left that this pass met (done), and whether it must stay
// whole all the same (pinned). The ABORT marker of an aborted transaction
// whose data was met keeps its index entry (takeKept returns it).
func (t *txnTracker) marker(h record.BatchHeader) (done, pinned bool) {
	t.begin(h.LastOffset())
	id := h.ProducerID
	if at, ok := t.pins[id]; ok && h.BaseOffset >= at && h.NumRecords > 0 {
		delete(t.pins, id)
		pinned = true
	}
	done = !t.committed[id]
	delete(t.committed, id)
	if r := t.aborted[id]; r != nil && h.BaseOffset >= r.e.LastOffset {
		// The entry's marker (or, in a damaged log, a later batch of the
		// producer): the aborted transaction ends here.
		delete(t.aborted, id)
		if r.seen {
			t.kept = append(t.kept, r.e)
			done = false
		}
	}
	return done, pinned
}

// takeKept returns the entries collected since the last call.
func (t *txnTracker) takeKept() []AbortedTxn {
	k := t.kept
	t.kept = nil
	return k
}

// snapshotPins reads the producer snapshot on disk and returns, for every
// producer whose transaction it holds open, the snapshot's offset. After
// a crash, producer state is rebuilt from that snapshot by replaying the
// log from its offset, so the first marker of such a producer at or after
// it must survive cleaning even with its data gone: without it the replay
// would leave the transaction open and hold the last stable offset back
// forever. (Kafka snapshots at every roll, so its replays never start
// below the cleaned section; Eddy snapshots on a clean close only.) A
// missing or damaged snapshot pins nothing: recovery then replays from the
// log start, where a transaction whose data is gone never begins.
func snapshotPins(dir string) (map[int64]int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read producer snapshot: %w", err)
	}
	p, off, err := decodeSnapshot(b)
	if err != nil {
		return nil, nil
	}
	pins := map[int64]int64{}
	for id, e := range p {
		if e.txnFirst >= 0 {
			pins[id] = off
		}
	}
	return pins, nil
}
