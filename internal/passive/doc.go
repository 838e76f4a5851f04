// Package passive owns the data ports that Rotary names in its replies to
// PASV and EPSV.
//
// A server behind NAT can only use the passive ports its router forwards, a
// small inclusive [Range] such as 5500-5520. For each transfer the FTP engine
// calls [Pool.Reserve], tells the client the port of the returned
// [Reservation], and waits in [Reservation.Accept] for the client's data
// connection.
//
// # Sharing ports between clients
//
// A range of 21 ports would allow only 21 simultaneous transfers if each
// port served one transfer at a time. Instead there is one listener per
// (local IP, port), and each listener keeps a table of pending reservations
// keyed by client IP. An accepted connection is handed to the pending
// reservation whose client IP matches the connection's client address (its
// remote IP, or the address returned by [Pool.ClientAddr] for PROXY
// protocol). A port carries at most one pending reservation per client IP,
// so the pairing is never ambiguous, and a port can serve any number of
// different clients at once: with 21 ports, hundreds of clients can transfer
// concurrently. Only a client that already has a pending transfer on every
// port of the range is refused ([ErrExhausted]).
//
// Reserve prefers ports with no pending reservation at all, cycling
// round-robin through the range so consecutive transfers use different
// ports; only when every port is busy does it share a port with reservations
// from other client IPs.
//
// A connection from an IP that has no pending reservation on the port is
// closed and logged; it does not disturb the reservations that are pending
// there. This also keeps the classic "port theft" attack (a third party at
// another IP racing the real client to the announced port) from getting at
// the data.
//
// # Who accepts
//
// Connections are accepted by the goroutine that waits for one, in
// [Reservation.Accept] or [Reservation.WaitReady], not by a goroutine of the
// pool: the client connects right after the PASV reply, so when its RETR
// comes the connection usually waits in the listen queue and the accept
// returns at once, in the goroutine that needs it, with no hand-over from
// another goroutine. Until then the connection waits in the kernel, and so
// does a thief's: it is refused when a waiter comes to it in the queue,
// before the client's own. [Reservation.TakeQueued] (Linux) takes such a
// waiting connection as a bare socket, outside Go's poller, refusing
// thieves on the way in the same manner, for a transfer too small to pay
// for a net.Conn. One waiter per listener is in its Accept; the
// waiters of other clients of a shared port wait for the connection it
// hands them, or take the accept over when it returns. A reservation that
// ends without its connection (released, timed out) may leave one in the
// queue; the goroutine that ends it accepts what waits there (refusing it,
// or handing it to another client's reservation), so that an old
// connection never reaches its client's next transfer on the port. What
// reaches a lingering listener while nothing is pending on it is refused
// when the listener is reserved again, before the new reservation exists
// (a poll that returns at once, then an accept for what it found; Unix
// only: elsewhere the next waiter refuses it unless it comes from its own
// client).
//
// A reservation stops being pending when it receives its connection, when it
// is released, when its accept timeout (counted from Reserve, implemented
// with [time.AfterFunc] so that waiting costs no goroutine) expires, or when
// the pool is closed. A listener whose last pending reservation goes away is
// closed, so ports are not held open needlessly; SO_REUSEADDR (Go's default
// on Unix) lets it be bound again at once. The pool's only goroutines are,
// when [Pool.ClientAddr] is set, one short-lived goroutine per accepted
// connection, which reads its PROXY header.
//
// # Why listeners bind the control connection's local address
//
// Listeners are bound to the local address of the session's control
// connection, never to the wildcard address. Addresses are independent:
// port 5500 on 127.0.0.1 and port 5500 on 127.0.0.3 are separate listeners
// with separate reservation tables. Binding the wildcard would claim the
// port numbers on every address of the host, so another service (for
// instance a gateway listening on a second local address) could not use the
// same port numbers; it would also accept data connections on addresses the
// client was never told about. Binding the specific address keeps each
// address's port range to itself.
package passive
