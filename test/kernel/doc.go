// Package kernel applies `rotary rules` output to a real Linux kernel: the
// nftables table with `nft -f` and the iptables file with
// `iptables-restore`, inside network namespaces the tests create (a
// client, a router, the servers, joined by veth pairs with addresses from
// 198.18.0.0/15 that exist only there), and runs real FTP sessions (curl,
// lftp, Python's ftplib) through that kernel NAT to `rotary serve`. The
// tests need root (to create namespaces); elsewhere they skip.
package kernel
