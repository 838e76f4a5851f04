package serveapp

import (
	"log/slog"
	"net/netip"
	"sync"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// peerWatch warns, once per address, when one client address holds many
// logged-in sessions of several different users at once: what a server
// behind a userspace gateway, or any proxy, sees when the gateway sends no
// PROXY header. Every client then has the gateway's address, so one
// client's failed logins ban all of them and per-IP limits count them as
// one. Behind a trusted PROXY gateway each session has its real client's
// address, and this stays quiet.
//
// Why this signal: a session's address alone cannot tell a gateway from a
// client, and the gateway's inside address is often a private one like any
// office NAT's. Several users logged in at once from one address is what
// a gateway produces within minutes of use; a shared office NAT can too,
// which is why this is a warning that says what to check, not a refusal.
type peerWatch struct {
	ftp.NopObserver
	logger *slog.Logger

	mu       sync.Mutex
	sessions map[uint64]peerSession
	peers    map[netip.Addr]*peerCount
	warned   map[netip.Addr]bool
}

type peerSession struct {
	addr netip.Addr
	user string
}

type peerCount struct {
	sessions int
	users    map[string]int
}

// Thresholds of the warning: this many logged-in sessions at once from one
// address, of at least this many different users.
const (
	peerWarnSessions = 4
	peerWarnUsers    = 3
)

func newPeerWatch(logger *slog.Logger) *peerWatch {
	return &peerWatch{logger: logger, sessions: map[uint64]peerSession{}, peers: map[netip.Addr]*peerCount{}, warned: map[netip.Addr]bool{}}
}

func (w *peerWatch) LoginSucceeded(s ftp.SessionInfo) {
	addr := s.Client.Addr()
	w.mu.Lock()
	if old, ok := w.sessions[s.ID]; ok { // a new login on the same session
		w.dropLocked(old)
	}
	w.sessions[s.ID] = peerSession{addr: addr, user: s.User}
	pc := w.peers[addr]
	if pc == nil {
		pc = &peerCount{users: map[string]int{}}
		w.peers[addr] = pc
	}
	pc.sessions++
	pc.users[s.User]++
	warn := !w.warned[addr] && pc.sessions >= peerWarnSessions && len(pc.users) >= peerWarnUsers
	if warn {
		w.warned[addr] = true
	}
	n, users := pc.sessions, len(pc.users)
	w.mu.Unlock()
	if warn {
		w.logger.Warn("one address carries the sessions of several users at once: if it is a gateway or proxy in front of this server, "+
			"have it send PROXY protocol headers (rotary gateway: rotary proxy-protocol v2 ...) and trust them with proxy-protocol-from; "+
			"until then bans and per-IP limits treat all its clients as one",
			"client", addr.String(), "sessions", n, "users", users)
	}
}

func (w *peerWatch) SessionClosed(s ftp.SessionInfo) {
	w.mu.Lock()
	if old, ok := w.sessions[s.ID]; ok {
		delete(w.sessions, s.ID)
		w.dropLocked(old)
	}
	w.mu.Unlock()
}

func (w *peerWatch) dropLocked(ps peerSession) {
	pc := w.peers[ps.addr]
	if pc == nil {
		return
	}
	pc.sessions--
	if pc.users[ps.user]--; pc.users[ps.user] <= 0 {
		delete(pc.users, ps.user)
	}
	if pc.sessions <= 0 {
		delete(w.peers, ps.addr)
	}
}
