package node

import "github.com/eddy-streaming/eddy/internal/auth"

// ScramCredential exposes the listener's credential lookup to the
// node_test package.
func ScramCredential(n *Node, user string, m auth.Mechanism) (auth.Credential, bool) {
	return n.scramCredential(user, m)
}
