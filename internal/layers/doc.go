// Package layers holds no code, only static checks of the module: its
// tests parse the imports of every package and fail when one breaks the
// layering of /DESIGN.md (imports point down only; the services around the
// broker use the Kafka client, not broker internals), and type-check every
// non-test package to fail on a log call whose message is not a constant or
// whose keys are not constant snake_case (STYLE.md 15).
package layers
