package node

import (
	"log/slog"

	"github.com/eddy-streaming/eddy/internal/acl"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// newAuthorizer returns the ACL authorizer authorizer.class.name turns on:
// it decides against the ACLs of the store's current image, so a change
// applies at once, on connections already open too, and each image's
// index is built once (meta.Image.ACLIndex).
func newAuthorizer(settings config.BrokerConfig, store *meta.Store, log *slog.Logger) *acl.Authorizer {
	return acl.New(acl.Config{
		SuperUsers:   settings.SuperUsers(),
		AllowIfNoACL: settings.Bool("allow.everyone.if.no.acl.found"),
		Index:        func() *acl.Index { return store.Image().ACLIndex() },
		Logger:       log,
	})
}
