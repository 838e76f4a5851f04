// Package ftp is Rotary's FTP protocol engine: the control connection loop,
// the command table, replies, data connections and listings. It knows
// nothing about accounts or disks: it talks to a Backend for logins and to a
// storage.Driver for files, and to a passive.Pool for data ports.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp: server closed")

// Defaults for the zero values of Server's fields: every limit the engine
// applies is a field of Server, and its default is here.
const (
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
	DefaultLoginTimeout   = 60 * time.Second
	// DefaultParkIdleAfter: a session quiet for this long gives up its
	// goroutine (park.go). A client at work sends its next command within
	// a round trip; parking and resuming cost about 13 µs
	// (BenchmarkNOOPParked), nothing beside a pause of 100 ms.
	DefaultParkIdleAfter = 100 * time.Millisecond
	DefaultDataTimeout   = 5 * time.Minute
	// DefaultMaxLoginFailures is vsftpd's max_login_fails.
	DefaultMaxLoginFailures = 3
	// DefaultMaxCommandErrors bad commands in a row end a session (go-smtp's
	// protocolError idea): it stops scanners from holding a connection.
	DefaultMaxCommandErrors = 25
	// DefaultReplyTimeout bounds the write of one reply: a client that
	// stops reading its control connection cannot hold a session forever.
	DefaultReplyTimeout = 30 * time.Second
	// DefaultBackendTimeout bounds one Backend.Login call.
	DefaultBackendTimeout = 30 * time.Second
	// MaxLine is the longest command line accepted, without CRLF. Longer
	// lines are answered with 500 and skipped; the session goes on.
	MaxLine = 4096
)

// Server is an FTP server. Its exported fields are its configuration: set
// them before Serve, and change them afterwards only inside Update. Serve
// and Update take a snapshot of them, which is all that sessions read, so
// a change is never seen half made.
type Server struct {
	// Backend authenticates users. Required.
	Backend Backend
	// Passive hands out passive data ports. nil means passive mode is refused.
	Passive *passive.Pool
	// PassiveAddress names the address announced in 227 replies for a client.
	// nil means the control connection's local address.
	PassiveAddress func(client, local netip.Addr) netip.Addr
	// PassivePort names the port announced in 227 and 229 replies for a
	// client, given the local port its data listener has. nil means the
	// local port. Behind a NAT that translates ports (a router forwarding
	// 6500+i to 5500+i, a container published with -p 6500-6520:5500-5520)
	// the client must be told the outside port; the listener stays local.
	PassivePort func(client netip.Addr, local int) int
	// Greeting is the text of the 220 reply.
	Greeting string
	// IdleTimeout closes a session that sends nothing for this long (with a
	// 421). 0 means DefaultIdleTimeout; negative means never.
	IdleTimeout time.Duration
	// LoginTimeout closes a session that has not logged in after this long.
	// 0 means DefaultLoginTimeout; negative means never.
	LoginTimeout time.Duration
	// ParkIdleAfter: a session on a plain control connection that sends
	// nothing for this long, with no transfer or data connection pending,
	// waits for its next command without a goroutine (Linux; elsewhere it
	// keeps one). 0 means DefaultParkIdleAfter; negative means never.
	ParkIdleAfter time.Duration
	// ConnectTimeout bounds the active-mode (PORT/EPRT) connect. 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxConns and MaxConnsPerIP refuse connection N+1 with 421. 0 means
	// unlimited.
	MaxConns      int
	MaxConnsPerIP int
	// MaxLoginFailures wrong passwords on one connection close it with
	// 421. 0 means DefaultMaxLoginFailures.
	MaxLoginFailures int
	// MaxCommandErrors bad commands in a row close a session with 421. 0
	// means DefaultMaxCommandErrors.
	MaxCommandErrors int
	// ReplyTimeout bounds the write of one reply; a client that does not
	// read it in time loses its session. 0 means DefaultReplyTimeout.
	ReplyTimeout time.Duration
	// BackendTimeout bounds one Backend.Login call. 0 means
	// DefaultBackendTimeout.
	BackendTimeout time.Duration
	// Logger receives session and transfer lines. nil means slog.Default().
	Logger *slog.Logger
	// DataTimeout ends a transfer that makes no progress for this long, with
	// 426. 0 means DefaultDataTimeout; negative means never.
	DataTimeout time.Duration
	// ProxyFrom lists the peers (a gateway) whose control connections start
	// with a PROXY protocol header naming the real client. Their headers
	// are required; nobody else's are read.
	ProxyFrom proxyheader.Trust
	// ProxyHeaderTimeout bounds the wait for a PROXY header. 0 means
	// proxyheader.DefaultTimeout.
	ProxyHeaderTimeout time.Duration
	// ConnFilter, when set, is asked about every new connection (after its
	// PROXY header); an error refuses it with 421 and the error's text.
	// This is where bans are enforced.
	ConnFilter func(ConnInfo) error
	// TransferLog, when set, is called after every transfer (xferlog).
	TransferLog func(TransferRecord)
	// TLSConfig, when set, enables AUTH TLS and implicit TLS listeners.
	TLSConfig *tls.Config
	// TLS is the FTPS policy beyond TLSConfig (require TLS, CCC, session
	// reuse, handshake timeout).
	TLS TLSOptions
	// Observer, when set, is told about sessions, logins, replies, TLS
	// handshakes and transfers (metrics, the status page).
	Observer Observer

	mu        sync.Mutex
	snap      atomic.Pointer[settings] // the fields as of the last Serve or Update
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	admitted  int // sessions past admission (counted by MaxConns)
	perIP     map[netip.Addr]int
	closing   atomic.Bool
	wg        sync.WaitGroup // one per running session
	lastID    atomic.Uint64  // session IDs, from 1
}

// Update changes the server's configuration while it runs (a reload):
// fn may set any exported field. Running sessions see the new values from
// their next command or transfer on; a session's TLS state (its
// certificate and options) is the one it started TLS with.
func (srv *Server) Update(fn func(*Server)) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	fn(srv)
	srv.takeSnapshot()
}

// settings is a snapshot of Server's exported fields with the defaults
// filled in: what sessions read while they run.
type settings struct {
	backend                      Backend
	pool                         *passive.Pool
	passiveAddress               func(client, local netip.Addr) netip.Addr
	passivePort                  func(client netip.Addr, local int) int
	greeting                     string
	idle, login, connect, data   time.Duration
	parkAfter                    time.Duration
	maxConns, maxConnsPerIP      int
	maxLoginFailures, maxErrors  int
	replyTimeout, backendTimeout time.Duration
	logger                       *slog.Logger
	proxyFrom                    proxyheader.Trust
	proxyHeaderTimeout           time.Duration
	connFilter                   func(ConnInfo) error
	transferLog                  func(TransferRecord)
	tlsConfig                    *tls.Config
	tls                          TLSOptions
	observer                     Observer
}

// settings returns the current snapshot. A Server that has not been
// served yet takes one now.
func (srv *Server) settings() *settings {
	if st := srv.snap.Load(); st != nil {
		return st
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.takeSnapshot()
}

// takeSnapshot copies the exported fields; srv.mu must be held.
func (srv *Server) takeSnapshot() *settings {
	st := &settings{
		backend: srv.Backend, pool: srv.Passive, passiveAddress: srv.PassiveAddress, passivePort: srv.PassivePort, greeting: srv.Greeting,
		idle: srv.IdleTimeout, login: srv.LoginTimeout, parkAfter: srv.ParkIdleAfter, connect: srv.ConnectTimeout, data: srv.DataTimeout,
		maxConns: srv.MaxConns, maxConnsPerIP: srv.MaxConnsPerIP,
		maxLoginFailures: srv.MaxLoginFailures, maxErrors: srv.MaxCommandErrors,
		replyTimeout: srv.ReplyTimeout, backendTimeout: srv.BackendTimeout,
		logger: srv.Logger, proxyFrom: srv.ProxyFrom, proxyHeaderTimeout: srv.ProxyHeaderTimeout,
		connFilter: srv.ConnFilter, transferLog: srv.TransferLog, tlsConfig: srv.TLSConfig, tls: srv.TLS,
		observer: srv.Observer,
	}
	if st.greeting == "" {
		st.greeting = "Rotary FTP server ready"
	}
	if st.idle == 0 {
		st.idle = DefaultIdleTimeout
	}
	if st.login == 0 {
		st.login = DefaultLoginTimeout
	}
	if st.parkAfter == 0 {
		st.parkAfter = DefaultParkIdleAfter
	}
	if st.connect <= 0 {
		st.connect = DefaultConnectTimeout
	}
	if st.data == 0 {
		st.data = DefaultDataTimeout
	}
	if st.maxLoginFailures <= 0 {
		st.maxLoginFailures = DefaultMaxLoginFailures
	}
	if st.maxErrors <= 0 {
		st.maxErrors = DefaultMaxCommandErrors
	}
	if st.replyTimeout <= 0 {
		st.replyTimeout = DefaultReplyTimeout
	}
	if st.backendTimeout <= 0 {
		st.backendTimeout = DefaultBackendTimeout
	}
	if st.logger == nil {
		st.logger = slog.Default()
	}
	srv.snap.Store(st)
	return st
}

// ListenAndServe listens on the TCP address addr and serves it.
func (srv *Server) ListenAndServe(addr string) error {
	l, err := ListenControl(addr)
	if err != nil {
		return err
	}
	return srv.Serve(l)
}

// Serve accepts control connections on l, one goroutine each, until l fails
// or the server is shut down; then it returns ErrServerClosed. It takes
// the snapshot of the exported fields that sessions read.
func (srv *Server) Serve(l net.Listener) error {
	if !srv.trackListener(l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer srv.trackListener(l, false)
	if srv.settings().parkAfter > 0 {
		parkingAvailable() // its goroutine starts with the server, not with a session
	}
	optionsSet := inherits(l)
	var tempDelay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if srv.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors, buffers or memory, or any other
			// passing failure: back off and keep serving, as net/http does,
			// rather than stopping the server.
			if tempDelay == 0 {
				tempDelay = 5 * time.Millisecond
			} else if tempDelay *= 2; tempDelay > time.Second {
				tempDelay = time.Second
			}
			srv.settings().logger.Warn("accept failed; retrying", "listener", l.Addr().String(), "err", err, "delay", tempDelay)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		srv.startSession(c, optionsSet)
	}
}

func (srv *Server) trackListener(l net.Listener, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if add {
		if srv.closing.Load() {
			return false
		}
		srv.takeSnapshot()
		if srv.listeners == nil {
			srv.listeners = make(map[net.Listener]struct{})
		}
		srv.listeners[l] = struct{}{}
	} else {
		delete(srv.listeners, l)
	}
	return true
}

// startSession registers the connection (so Shutdown and Close reach it)
// and starts its goroutine; admission happens there, after any PROXY
// header, so that limits and bans see the real client. optionsSet says
// that c inherited its socket options from a ListenControl listener.
func (srv *Server) startSession(c net.Conn, optionsSet bool) {
	local := addrPortOf(c.LocalAddr())
	s := newSession(srv, c, ConnInfo{Client: addrPortOf(c.RemoteAddr()), Local: local, Dest: local})
	s.optionsSet = optionsSet
	s.status.id = srv.lastID.Add(1)
	srv.mu.Lock()
	// Shutdown sets closing and then waits on wg under this lock's
	// protection: a session added after it looked must not start, or
	// Shutdown could return while it runs.
	if srv.closing.Load() {
		srv.mu.Unlock()
		c.Close()
		return
	}
	if srv.sessions == nil {
		srv.sessions = make(map[*session]struct{})
		srv.perIP = make(map[netip.Addr]int)
	}
	srv.sessions[s] = struct{}{}
	srv.wg.Add(1)
	srv.mu.Unlock()
	go s.serve()
}

// admit decides whether a new session may go on; it returns the text of the
// 421 reply when not.
func (srv *Server) admit(s *session) string {
	ip := s.info.Client.Addr()
	st := srv.settings()
	filter := st.connFilter
	srv.mu.Lock()
	refuse := ""
	switch {
	case srv.closing.Load():
		refuse = "Server shutting down"
	case st.maxConns > 0 && srv.admitted >= st.maxConns:
		refuse = "Too many users, try again later"
	case st.maxConnsPerIP > 0 && srv.perIP[ip] >= st.maxConnsPerIP:
		refuse = "Too many connections from your address"
	}
	if refuse == "" {
		srv.admitted++
		srv.perIP[ip]++
		s.admitted = true
	}
	srv.mu.Unlock()
	if refuse == "" && filter != nil {
		if err := filter(s.info); err != nil {
			srv.release(s)
			refuse = err.Error()
		}
	}
	return refuse
}

// release undoes admit's counting.
func (srv *Server) release(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !s.admitted {
		return
	}
	s.admitted = false
	srv.admitted--
	ip := s.info.Client.Addr()
	if srv.perIP[ip]--; srv.perIP[ip] <= 0 {
		delete(srv.perIP, ip)
	}
}

func (srv *Server) endSession(s *session) {
	srv.release(s)
	srv.mu.Lock()
	delete(srv.sessions, s)
	srv.mu.Unlock()
	srv.wg.Done()
}

// Shutdown stops accepting connections, closes idle sessions with 421, lets
// running transfers finish and then closes their sessions. If ctx ends
// first, the remaining sessions are closed at once and ctx's error returned.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.closing.Store(true)
	srv.mu.Lock()
	for l := range srv.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.mu.Unlock()
	for _, s := range sessions {
		s.closeIfIdle()
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes all listeners and all sessions at once.
func (srv *Server) Close() error {
	srv.closing.Store(true)
	srv.mu.Lock()
	for l := range srv.listeners {
		l.Close()
	}
	for s := range srv.sessions {
		s.cancel() // storage calls in flight, on the control connection too
		s.conn.Close()
		unpark(s)
		if t := s.currentTransfer(); t != nil {
			t.abort() // a stalled data connection must not outlive Close
		}
	}
	srv.mu.Unlock()
	return nil
}

// SessionCount reports the sessions running now.
func (srv *Server) SessionCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
