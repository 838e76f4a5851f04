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
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp: server closed")

// Defaults for the zero values of Server's fields.
const (
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultConnectTimeout = 10 * time.Second
	DefaultLoginTimeout   = 60 * time.Second
	// MaxLine is the longest command line accepted, without CRLF. Longer
	// lines are answered with 500 and skipped; the session goes on.
	MaxLine = 4096
)

// Server is an FTP server. Its exported fields are its configuration; set
// them before Serve and do not change them afterwards.
type Server struct {
	// Backend authenticates users. Required.
	Backend Backend
	// Passive hands out passive data ports. nil means passive mode is refused.
	Passive *passive.Pool
	// PassiveAddress names the address announced in 227 replies for a client.
	// nil means the control connection's local address.
	PassiveAddress func(client, local netip.Addr) netip.Addr
	// Greeting is the text of the 220 reply.
	Greeting string
	// IdleTimeout closes a session that sends nothing for this long (with a
	// 421). 0 means DefaultIdleTimeout; negative means never.
	IdleTimeout time.Duration
	// LoginTimeout closes a session that has not logged in after this long.
	// 0 means DefaultLoginTimeout; negative means never.
	LoginTimeout time.Duration
	// ConnectTimeout bounds the active-mode (PORT/EPRT) connect. 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxConns and MaxConnsPerIP refuse connection N+1 with 421. 0 means
	// unlimited.
	MaxConns      int
	MaxConnsPerIP int
	// Logger receives session and transfer lines. nil means slog.Default().
	Logger *slog.Logger
	// TLSConfig, when set, enables AUTH TLS (reserved for FTPS).
	TLSConfig *tls.Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	closing   atomic.Bool
	wg        sync.WaitGroup // one per running session
}

func (srv *Server) logger() *slog.Logger {
	if srv.Logger != nil {
		return srv.Logger
	}
	return slog.Default()
}

func (srv *Server) idleTimeout() time.Duration {
	if srv.IdleTimeout == 0 {
		return DefaultIdleTimeout
	}
	return srv.IdleTimeout
}

func (srv *Server) loginTimeout() time.Duration {
	if srv.LoginTimeout == 0 {
		return DefaultLoginTimeout
	}
	return srv.LoginTimeout
}

func (srv *Server) connectTimeout() time.Duration {
	if srv.ConnectTimeout <= 0 {
		return DefaultConnectTimeout
	}
	return srv.ConnectTimeout
}

// ListenAndServe listens on the TCP address addr and serves it.
func (srv *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return srv.Serve(l)
}

// Serve accepts control connections on l, one goroutine each, until l fails
// or the server is shut down; then it returns ErrServerClosed.
func (srv *Server) Serve(l net.Listener) error {
	if !srv.trackListener(l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer srv.trackListener(l, false)
	var tempDelay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if srv.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				// Out of file descriptors or similar: back off as net/http does.
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else if tempDelay *= 2; tempDelay > time.Second {
					tempDelay = time.Second
				}
				srv.logger().Warn("accept failed; retrying", "listener", l.Addr().String(), "err", err, "delay", tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		srv.startSession(c)
	}
}

func (srv *Server) trackListener(l net.Listener, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if add {
		if srv.closing.Load() {
			return false
		}
		if srv.listeners == nil {
			srv.listeners = make(map[net.Listener]struct{})
		}
		srv.listeners[l] = struct{}{}
	} else {
		delete(srv.listeners, l)
	}
	return true
}

func (srv *Server) startSession(c net.Conn) {
	client := addrPortOf(c.RemoteAddr())
	local := addrPortOf(c.LocalAddr())
	s := newSession(srv, c, ConnInfo{Client: client, Local: local})

	srv.mu.Lock()
	if srv.sessions == nil {
		srv.sessions = make(map[*session]struct{})
		srv.perIP = make(map[netip.Addr]int)
	}
	refuse := ""
	switch {
	case srv.closing.Load():
		refuse = "Server shutting down"
	case srv.MaxConns > 0 && len(srv.sessions) >= srv.MaxConns:
		refuse = "Too many users, try again later"
	case srv.MaxConnsPerIP > 0 && srv.perIP[client.Addr()] >= srv.MaxConnsPerIP:
		refuse = "Too many connections from your address"
	}
	if refuse == "" {
		srv.sessions[s] = struct{}{}
		srv.perIP[client.Addr()]++
		srv.wg.Add(1)
	}
	srv.mu.Unlock()

	if refuse != "" {
		srv.logger().Info("connection refused", "client", client.String(), "reason", refuse)
		go func() {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(appendReply(nil, 421, refuse))
			c.Close()
		}()
		return
	}
	go s.serve()
}

func (srv *Server) endSession(s *session) {
	srv.mu.Lock()
	delete(srv.sessions, s)
	ip := s.info.Client.Addr()
	if srv.perIP[ip]--; srv.perIP[ip] <= 0 {
		delete(srv.perIP, ip)
	}
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
		s.conn.Close()
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
