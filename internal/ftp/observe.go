package ftp

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// Observer is told what sessions do: the seam that metrics and the status
// page hang on. Its methods are called from session and transfer
// goroutines, so they must be safe for concurrent use, and they must not
// block: they run on the command and transfer paths. Embed NopObserver to
// implement only some of them.
type Observer interface {
	// SessionOpened is called for an admitted session, before its 220.
	SessionOpened(SessionInfo)
	// SessionClosed is called once when an opened session ends.
	SessionClosed(SessionInfo)
	// LoginSucceeded and LoginFailed report each PASS the backend decided.
	// refused is a right password that may not log in now (a session
	// limit); otherwise the password or user was wrong, or the backend
	// failed.
	LoginSucceeded(s SessionInfo)
	LoginFailed(s SessionInfo, user string, refused bool)
	// Replied reports the code of every reply sent.
	Replied(code int)
	// TLSHandshake reports each TLS handshake, on the control connection
	// (control true) or on a data connection; err is nil on success.
	TLSHandshake(s SessionInfo, control bool, err error)
	// TransferStarted is called when a transfer's data connection is open,
	// before its 150 reply; TransferProgress as its bytes move (delta is
	// the bytes since the last call, reported every few MiB at most), and
	// TransferEnded once it is over, however it ended.
	TransferStarted(TransferInfo)
	TransferProgress(t TransferInfo, delta int64)
	TransferEnded(TransferRecord)
}

// NopObserver implements Observer and does nothing; embed it.
type NopObserver struct{}

func (NopObserver) SessionOpened(SessionInfo)             {}
func (NopObserver) SessionClosed(SessionInfo)             {}
func (NopObserver) LoginSucceeded(SessionInfo)            {}
func (NopObserver) LoginFailed(SessionInfo, string, bool) {}
func (NopObserver) Replied(int)                           {}
func (NopObserver) TLSHandshake(SessionInfo, bool, error) {}
func (NopObserver) TransferStarted(TransferInfo)          {}
func (NopObserver) TransferProgress(TransferInfo, int64)  {}
func (NopObserver) TransferEnded(TransferRecord)          {}

// SessionState is what a session is doing.
type SessionState string

const (
	StateLogin    SessionState = "login"    // connected, not logged in
	StateIdle     SessionState = "idle"     // logged in, waiting for a command
	StateTransfer SessionState = "transfer" // a transfer (or HASH) is running
)

// SessionInfo describes one session at one moment.
type SessionInfo struct {
	ID     uint64
	Client netip.AddrPort // the real client (after a trusted PROXY header)
	Local  netip.AddrPort
	User   string // "" before login
	Opened time.Time
	// LastCommand is when the last command arrived (Opened before any).
	LastCommand time.Time
	State       SessionState
	TLS         bool
	// Transfer is the running transfer, if any.
	Transfer *TransferInfo
}

// TransferInfo describes a transfer while it runs.
type TransferInfo struct {
	Session uint64
	Client  netip.Addr
	User    string
	Verb    string // RETR, STOR, APPE, STOU, LIST, NLST, MLSD
	Path    string
	Upload  bool
	Started time.Time
	// Size is the number of bytes to send, when known (RETR); -1 otherwise.
	Size int64
	// Bytes moved so far (in Sessions' snapshots; 0 in TransferStarted).
	Bytes int64
}

// sessionStatus is the part of a session that Sessions reads from other
// goroutines.
type sessionStatus struct {
	id       uint64
	opened   time.Time
	user     atomic.Pointer[string]
	lastCmd  atomic.Int64 // unix nanoseconds
	tlsOn    atomic.Bool
	observed atomic.Bool // SessionOpened was reported, so SessionClosed is due
}

// Sessions returns a snapshot of the running sessions, oldest first.
func (srv *Server) Sessions() []SessionInfo {
	srv.mu.Lock()
	list := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, s := range list {
		// A session still reading its PROXY header or TLS handshake is
		// not listed: its ConnInfo is not final yet.
		if s.status.observed.Load() {
			out = append(out, s.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// snapshot describes s now; it may run on any goroutine.
func (s *session) snapshot() SessionInfo {
	info := SessionInfo{ID: s.status.id, Client: s.info.Client, Local: s.info.Local, Opened: s.status.opened,
		LastCommand: time.Unix(0, s.status.lastCmd.Load()), TLS: s.status.tlsOn.Load(), State: StateLogin}
	if u := s.status.user.Load(); u != nil {
		info.User = *u
		info.State = StateIdle
	}
	if t := s.currentTransfer(); t != nil {
		ti := t.info()
		info.Transfer = &ti
		info.State = StateTransfer
	}
	return info
}

// observer returns the configured observer, or nil.
func (s *session) observer() Observer { return s.srv.settings().observer }

// setUser records the logged-in user for Sessions ("" at logout).
func (s *session) setUser(name string) {
	if name == "" {
		s.status.user.Store(nil)
		return
	}
	s.status.user.Store(&name)
}

// observeHandshake reports a TLS handshake of s. An implicit FTPS
// handshake comes before admission, when s is not listed yet: it is
// reported with the address the connection came from.
func (s *session) observeHandshake(control bool, err error) {
	if o := s.observer(); o != nil {
		info := SessionInfo{ID: s.status.id, Client: s.info.Client, Local: s.info.Local, Opened: s.status.opened, TLS: err == nil}
		if s.status.observed.Load() {
			info = s.snapshot()
		}
		o.TLSHandshake(info, control, err)
	}
}

// Observers returns an Observer that tells each of list, in order; nil
// entries are skipped.
func Observers(list ...Observer) Observer {
	var m multiObserver
	for _, o := range list {
		if o != nil {
			m = append(m, o)
		}
	}
	if len(m) == 1 {
		return m[0]
	}
	return m
}

type multiObserver []Observer

func (m multiObserver) SessionOpened(s SessionInfo) {
	for _, o := range m {
		o.SessionOpened(s)
	}
}

func (m multiObserver) SessionClosed(s SessionInfo) {
	for _, o := range m {
		o.SessionClosed(s)
	}
}

func (m multiObserver) LoginSucceeded(s SessionInfo) {
	for _, o := range m {
		o.LoginSucceeded(s)
	}
}

func (m multiObserver) LoginFailed(s SessionInfo, user string, refused bool) {
	for _, o := range m {
		o.LoginFailed(s, user, refused)
	}
}

func (m multiObserver) Replied(code int) {
	for _, o := range m {
		o.Replied(code)
	}
}

func (m multiObserver) TLSHandshake(s SessionInfo, control bool, err error) {
	for _, o := range m {
		o.TLSHandshake(s, control, err)
	}
}

func (m multiObserver) TransferStarted(t TransferInfo) {
	for _, o := range m {
		o.TransferStarted(t)
	}
}

func (m multiObserver) TransferProgress(t TransferInfo, delta int64) {
	for _, o := range m {
		o.TransferProgress(t, delta)
	}
}

func (m multiObserver) TransferEnded(r TransferRecord) {
	for _, o := range m {
		o.TransferEnded(r)
	}
}
