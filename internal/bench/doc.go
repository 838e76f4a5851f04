// Package bench is the load client behind `rotary bench`: it measures any FTP
// server (Rotary or another) with a handful of workloads (big RETR and STOR,
// many small RETRs, login storms, idle sessions, big listings) and the
// machine's own loopback ceilings for big and for small transfers (raw,
// raw-small), and the ceiling of FTP's own exchange for small transfers
// (raw-ftp-small).
//
// It speaks FTP itself over net/textproto and depends on nothing in the
// server engine, so a peer server is measured by exactly the same code.
//
// Safety: a target must be a loopback address (127.0.0.0/8 or ::1) unless
// AllowRemote is set, and data connections always go to the control
// connection's address, never to an address named in a 227 reply. Every
// loop is bounded by a count and a duration.
//
// Efficiency: the client shares the cores with the server it measures, so it
// does as little as it can. Plain RETR data is spliced to /dev/null on Linux
// (no copy to user space); STOR writes one reused buffer; small replies are
// read into per-client reused buffers.
package bench
