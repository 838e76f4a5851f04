// Package rules prints the forwarding that a router or firewall in front
// of a Rotary server needs: `rotary rules`. It is a datapath that prints
// (the Caddy-adapter shape): one forwarding Model, built either from
// Rotary's own serve settings (FromSettings) or from an IOS NAT
// configuration through the gateway's typed model (FromIOS), and one
// renderer per format (Render): ios, nftables, iptables, pf and netsh.
//
// Each renderer checks what it can express faithfully and refuses the rest
// with an error that names the setting (`--outside-ip ftp.example.org: pf
// needs an IPv4 address`) or, for an IOS file, its file:line:column (an
// *ios.Error). Nothing is printed when rendering fails.
//
// The Model is deliberately small: a list of DNAT forwards, each an outside
// address and port range, the inside hosts (several: round-robin per new
// connection, as an IOS rotary pool), the offset from outside to inside
// port, and, when an access list decides by source, its entries in order
// (first match, implicit deny). Model.Plan lists it as `rotary gateway
// --print-plan` lines, so that the IOS output can be checked to round-trip
// through the gateway's parser and planner.
package rules
