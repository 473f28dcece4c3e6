package quorum

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// leaderChanges counts the times a member saw the quorum's leader become
// another node than the last one it saw, the first leader included (as
// etcd's leader_changes_seen_total). A member that loses its leader and
// finds the same one again, a reconnecting observer say, counts nothing.
// Its owner serialises calls: a Node's run goroutine, an Observer's mu.
type leaderChanges struct {
	counter prometheus.Counter
	reg     prometheus.Registerer // nil: not registered
	last    uint64
}

func newLeaderChanges(reg prometheus.Registerer) (*leaderChanges, error) {
	l := &leaderChanges{reg: reg, counter: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eddy_quorum_leader_changes_total",
		Help: "Times this node saw the metadata quorum's leader become another node than the last it saw (the first leader included).",
	})}
	if reg != nil {
		if err := reg.Register(l.counter); err != nil {
			return nil, fmt.Errorf("quorum: registering metrics: %w", err)
		}
	}
	return l, nil
}

// see notes the leader now known, 0 for none.
func (l *leaderChanges) see(lead uint64) {
	if lead != 0 && lead != l.last {
		l.last = lead
		l.counter.Inc()
	}
}

// unregister takes the counter off its registry, so that a member
// restarted on the same registry registers again.
func (l *leaderChanges) unregister() {
	if l.reg != nil {
		l.reg.Unregister(l.counter)
	}
}
