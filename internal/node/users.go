package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/controller"
)

// parseBootstrapUser splits Config.BootstrapUser, "name:password", at its
// first colon: the name cannot hold one, the password may.
func parseBootstrapUser(s string) (user, password string, err error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" || password == "" {
		return "", "", errors.New("node: the bootstrap user (EDDY_BOOTSTRAP_USER) must be name:password, both non-empty")
	}
	return user, password, nil
}

// bootstrapUser creates the configured bootstrap user with SCRAM-SHA-256
// and SCRAM-SHA-512 credentials unless it has a credential already: an
// existing user is never overwritten, and on a cluster every node may try
// (controller.BootstrapUser proposes create-only records).
func (n *Node) bootstrapUser(ctrl *controller.Controller) error {
	if n.cfg.BootstrapUser == "" {
		return nil
	}
	user, password, err := parseBootstrapUser(n.cfg.BootstrapUser)
	if err != nil {
		return err
	}
	created, err := ctrl.BootstrapUser(user, password)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if created {
		n.log.Info("bootstrap user created", "user", user, "mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512")
	} else {
		n.log.Info("bootstrap user exists; its credentials are kept", "user", user)
	}
	return nil
}

// scramCredential returns user's current SCRAM credential for mechanism m:
// the lookup the SASL listener authenticates against (auth.Lookup). It
// reads the newest metadata image, so a change reaches connections
// already open, and copies one credential only.
func (n *Node) scramCredential(user string, m auth.Mechanism) (auth.Credential, bool) {
	return n.meta.Image().ScramCredential(user, m)
}
