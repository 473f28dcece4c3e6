package node

import "github.com/eddy-streaming/eddy/internal/auth"

// ScramCredential exposes the listener's credential lookup to the
// node_test package.
func ScramCredential(n *Node, user string, m auth.Mechanism) (auth.Credential, bool) {
	return n.scramCredential(user, m)
}

// SetPhaseHook calls hook at each start phase of the node on data
// directory dir, with the reason /readyz will give (health.go), until the
// test ends.
func SetPhaseHook(t interface{ Cleanup(func()) }, hook func(dir, reason string)) {
	phaseHook = hook
	t.Cleanup(func() { phaseHook = nil })
}
