package txn

import "math"

// State is a transactional id's state; the values are Kafka's state ids,
// the byte stored in __transaction_state values.
type State int8

// The states of Kafka's TransactionState.
const (
	Empty             State = 0 // no transaction: after InitProducerId
	Ongoing           State = 1 // partitions added, not yet ending
	PrepareCommit     State = 2 // commit decided and durable; markers being written
	PrepareAbort      State = 3 // abort decided and durable; markers being written
	CompleteCommit    State = 4 // commit markers written
	CompleteAbort     State = 5 // abort markers written
	Dead              State = 6 // being expired; never written, a tombstone is
	PrepareEpochFence State = 7 // fencing an ongoing transaction; never written
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
	"CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is the state's name as DescribeTransactions and ListTransactions
// report it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

// stateByName parses a ListTransactions state filter.
func stateByName(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// validPrevious lists, per state, the states it may be entered from
// (Kafka's TransactionState.validPreviousStates). PrepareAbort is entered
// from Empty and Complete* only by a transaction version 2 abort of a
// transaction that added no partitions.
var validPrevious = [...][]State{
	Empty:             {Empty, CompleteCommit, CompleteAbort},
	Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit:     {Ongoing},
	PrepareAbort:      {Ongoing, PrepareEpochFence, Empty, CompleteCommit, CompleteAbort},
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteAbort, CompleteCommit},
	PrepareEpochFence: {Ongoing},
}

// canTransition reports whether from → to is one of Kafka's transitions.
func canTransition(from, to State) bool {
	if to < 0 || int(to) >= len(validPrevious) {
		return false
	}
	for _, s := range validPrevious[to] {
		if s == from {
			return true
		}
	}
	return false
}

// expirable reports whether an idle id in state s may be expired.
func (s State) expirable() bool {
	return s == Empty || s == CompleteCommit || s == CompleteAbort
}

// preparing reports whether s waits for its markers.
func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }

// Producer epochs are int16. An epoch at or above maxClientEpoch is
// exhausted: the client never gets math.MaxInt16, so that the coordinator
// can always fence it by one more bump.
const maxClientEpoch = math.MaxInt16 - 1

func epochExhausted(e int16) bool { return e >= maxClientEpoch }

// Transaction versions (Kafka's transaction.version feature levels).
const (
	tv0 int16 = 0 // original protocol
	tv1 int16 = 1 // flexible __transaction_state values
	tv2 int16 = 2 // KIP-890 part 2: an epoch bump on every EndTxn
)

const (
	noProducerID    int64 = -1
	noProducerEpoch int16 = -1
)
