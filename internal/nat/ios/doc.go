// Package ios reads the Cisco IOS NAT dialect that `rotary gateway` runs and
// turns it into one typed model (Config). Everything downstream — the
// userspace forwarder, the show commands, later the nftables and pf renderers —
// works from that model, never from the text (the Caddy "adapt" shape).
//
// Supported statements (anything else is an error naming line and column;
// ParseOptions.Lenient turns unknown lines into warnings):
//
//	interface NAME
//	 ip address A M [secondary]
//	 ip nat inside | ip nat outside
//	 description TEXT | shutdown | no shutdown
//	ip nat pool NAME START END {netmask M | prefix-length N} type rotary
//	access-list {100-199|2000-2699} {permit|deny} tcp SRC [op port] DST [op port]
//	access-list {100-199|2000-2699} remark TEXT
//	ip access-list extended NAME
//	 [SEQ] {permit|deny} tcp SRC [op port] DST [op port]
//	 remark TEXT
//	ip nat inside destination list ACL pool POOL
//	ip nat inside source static tcp LOCAL LPORT GLOBAL GPORT [extendable]
//	ip nat translation {tcp-timeout|finrst-timeout|syn-timeout} {SECONDS|never}
//	! comment
//
// Rotary extensions (rejected with ParseOptions.Strict):
//
//	rotary proxy-protocol v2 pool NAME
//	rotary proxy-protocol v2 static [GLOBAL GPORT]
//	rotary health-check interval SECONDS | rotary health-check off
//
// SRC and DST are `any`, `host A` or `A WILDCARD`; the port operators are
// eq, neq, lt, gt and range, with numbers or IOS port names (ftp, www, ...).
//
// Parse checks syntax and references only. What a datapath can run of a
// valid model is the datapath's own check (forward.Compile for userspace),
// so later renderers and a kernel datapath see every configuration IOS
// accepts. The data-only helpers they share live here: ACL.Permits and
// ACL.Decide (first match, implicit deny), AddrMatch.Count/Addresses,
// PortMatch.List, Config.OnInterface/CheckOutside.
//
// # Where the gateway differs from IOS
//
// IOS translates packets; the userspace gateway accepts TCP connections, so
// it must listen on concrete (address, port) pairs:
//
//   - A destination-list ACL must name a finite destination set: a permit
//     entry with DST `any`, or a destination port of `gt`, `neq` or no port at
//     all, is refused by forward.Compile. `lt` is accepted (1..N-1).
//   - "deny" means no listener. In IOS a denied packet is simply not
//     translated and is routed on untouched; the gateway has nothing to route it
//     to, so the port stays closed. An entry that denies only some sources keeps
//     the listener and refuses those sources per connection (first match,
//     implicit deny at the end, as IOS evaluates).
//   - Pool members are chosen round-robin per new TCP connection with one
//     counter per pool, and the destination port is kept, as `type rotary`
//     does in IOS.
package ios
