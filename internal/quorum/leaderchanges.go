package quorum

// leaderChanges is Status.LeaderChanges: its owner serialises calls (a
// Node's run goroutine, an Observer's mu).
type leaderChanges struct {
	last, count uint64
}

// see notes the leader now known, 0 for none.
func (l *leaderChanges) see(lead uint64) {
	if lead != 0 && lead != l.last {
		l.last = lead
		l.count++
	}
}
