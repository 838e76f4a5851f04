// Package metrics exports what `rotary serve` and `rotary gateway` do as
// Prometheus metrics, for the admin endpoint's /metrics.
//
// Names follow Prometheus's conventions: a rotary_ prefix, base units
// (bytes, seconds), _total on counters, and HELP text on every family.
// Counters that sit on the command path (replies, logins, transfers) are
// resolved at start, so observing one costs an atomic add, not a label
// lookup; what can be read when scraped (the passive pool, the bans, the
// gateway's statistics) is read then, by collectors, and costs nothing in
// between.
package metrics
