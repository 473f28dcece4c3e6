// Package layers holds no code: its test parses the imports of every
// package in the module and fails when one breaks the layering of
// /DESIGN.md (imports point down only; the services around the broker use
// the Kafka client, not broker internals).
package layers
