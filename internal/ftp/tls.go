package ftp

// FTPS: RFC 4217 (FTP over TLS) on top of RFC 2228's AUTH, PBSZ, PROT and
// CCC, plus implicit FTPS (TLS from the first byte, port 990 style).
//
// Security notes, vsftpd style:
//   - The control connection switches to TLS right after the 234 reply.
//     Bytes the client sent after "AUTH TLS" and before reading 234 are fed
//     to the TLS handshake, never run as commands (the STARTTLS command
//     injection of CVE-2011-0411 cannot happen).
//   - TLS 1.2 is the minimum, whatever the configuration says.
//   - Session tickets are bound to the FTP session that issued them: each
//     session tags its tickets with a random value and only resumes tickets
//     carrying its own tag. --tls-require-session-reuse (opt-in) then proves
//     that a data connection comes from the client that owns the control
//     connection, not from someone who raced it to the passive port.
//   - Uploads over TLS end at the client's close_notify or at a TCP close on
//     a record boundary. Refusing the latter would catch a forged FIN, but
//     enough clients close without close_notify that vsftpd, too, accepts it
//     by default (strict_ssl_read_eof=NO). A close inside a record is a
//     dropped connection (426).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
)

// DefaultTLSHandshakeTimeout bounds each TLS handshake, on the control
// connection and on data connections.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// TLSOptions is the FTPS policy beyond Server.TLSConfig. The zero value
// allows clear text sessions and clear data, refuses CCC and accepts data
// connections that do not resume the control connection's TLS session.
type TLSOptions struct {
	// Require refuses USER and PASS before AUTH TLS (530) and data
	// transfers without PROT P (521).
	Require bool
	// AllowCCC lets a logged-in client return the control connection to
	// clear text with CCC (RFC 4217 section 6), for NAT routers whose FTP
	// helper must read PASV replies. Data stays protected under PROT P.
	AllowCCC bool
	// RequireSessionReuse refuses (425) a data connection whose TLS session
	// does not resume the control connection's. Off by default: many Go and
	// .NET clients cannot resume.
	RequireSessionReuse bool
	// HandshakeTimeout bounds each TLS handshake; 0 means
	// DefaultTLSHandshakeTimeout.
	HandshakeTimeout time.Duration
}

func (o TLSOptions) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout <= 0 {
		return DefaultTLSHandshakeTimeout
	}
	return o.HandshakeTimeout
}

// sessionTLS is one FTP session's TLS state, made at AUTH TLS (or at accept
// on an implicit listener).
type sessionTLS struct {
	opts   TLSOptions
	config *tls.Config // this session's clone: its tickets carry tag
	tag    []byte

	// The control connection: ctl runs over rec, which runs over the TCP
	// connection. cleared is set after CCC, when the TCP connection carries
	// clear text again.
	ctl     *tls.Conn
	rec     *recordConn
	cleared bool
	// implicit sessions started in TLS and default to PROT P.
	implicit bool
}

var errNoTLSConfig = errors.New("ftp: TLS needs Server.TLSConfig")

// newSessionTLS clones the server's TLS configuration for one session.
func newSessionTLS(srv *Server) (*sessionTLS, error) {
	conf := srv.settings()
	if conf.tlsConfig == nil {
		return nil, errNoTLSConfig
	}
	st := &sessionTLS{opts: conf.tls, tag: make([]byte, 16)}
	if _, err := rand.Read(st.tag); err != nil {
		return nil, err
	}
	cfg := conf.tlsConfig.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	// The tag goes into every ticket this session issues, on the control
	// connection and on data connections; a ticket without it (from
	// another session, or another server sharing ticket keys) gives a full
	// handshake instead of a resumption.
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if !hasTag(ss.Extra, st.tag) {
			ss.Extra = append(ss.Extra, st.tag)
		}
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := cfg.DecryptTicket(identity, cs)
		if err != nil || ss == nil || !hasTag(ss.Extra, st.tag) {
			return nil, nil
		}
		return ss, nil
	}
	st.config = cfg
	return st, nil
}

func hasTag(extra [][]byte, tag []byte) bool {
	for _, e := range extra {
		if bytes.Equal(e, tag) {
			return true
		}
	}
	return false
}

// startTLS runs the server side of the control connection's handshake over
// c, whose first bytes may already have been read into pending.
func (st *sessionTLS) startTLS(c net.Conn, pending []byte) {
	st.rec = &recordConn{Conn: c, pending: pending}
	st.ctl = tls.Server(st.rec, st.config)
}

func (st *sessionTLS) handshake() error {
	ctx, cancel := context.WithTimeout(context.Background(), st.opts.handshakeTimeout())
	defer cancel()
	return st.ctl.HandshakeContext(ctx)
}

// describe is the TLS line of STAT and of the login log.
func (st *sessionTLS) describe() string {
	if st.cleared {
		return "cleared by CCC"
	}
	cs := st.ctl.ConnectionState()
	d := tls.VersionName(cs.Version) + " " + tls.CipherSuiteName(cs.CipherSuite)
	if st.implicit {
		d += " (implicit)"
	}
	return d
}

// recordConn hands the TLS layer one record at a time: it never reads past
// the end of the current record. crypto/tls otherwise reads ahead whatever
// the socket has, and after CCC (TLS closed, TCP kept) the clear-text
// commands that follow the client's close_notify would be lost in its
// buffer. Only control connections use it; their records are few and small.
type recordConn struct {
	net.Conn
	pending []byte // read by the session before TLS started
	hdr     [5]byte
	hdrLeft int // header bytes still to pass on
	bodyN   int // bytes of the current record's body still to pass on
	clear   bool
}

// recordHeaderLen is TLS's: type (1), version (2), length (2).
const recordHeaderLen = 5

func (c *recordConn) Read(p []byte) (int, error) {
	if c.clear || len(p) == 0 {
		return c.read(p)
	}
	if c.hdrLeft == 0 && c.bodyN == 0 {
		c.hdrLeft = recordHeaderLen
	}
	if c.hdrLeft > 0 {
		n, err := c.read(p[:min(len(p), c.hdrLeft)])
		copy(c.hdr[recordHeaderLen-c.hdrLeft:], p[:n])
		if c.hdrLeft -= n; c.hdrLeft == 0 {
			c.bodyN = int(c.hdr[3])<<8 | int(c.hdr[4])
		}
		return n, err
	}
	n, err := c.read(p[:min(len(p), c.bodyN)])
	c.bodyN -= n
	return n, err
}

func (c *recordConn) read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handleAUTH: not in TLS -> TLS on the control connection (RFC 4217
// section 4). "AUTH SSL" and "AUTH TLS-P" also set PROT P, as ProFTPD does,
// for old clients that expect protected data after them without PROT.
func (s *session) handleAUTH(arg string) {
	if s.srv.settings().tlsConfig == nil {
		s.reply(502, "TLS is not configured on this server")
		return
	}
	if s.tls != nil {
		if s.tls.cleared {
			s.reply(503, "AUTH is not allowed again after CCC")
		} else {
			s.reply(503, "Already using TLS on the control connection")
		}
		return
	}
	mech := strings.ToUpper(strings.TrimSpace(arg))
	switch mech {
	case "TLS", "TLS-C", "SSL", "TLS-P":
	default:
		s.reply(504, "AUTH mechanism not supported; use AUTH TLS")
		return
	}
	st, err := newSessionTLS(s.srv)
	if err != nil {
		s.log.Error("AUTH TLS", "err", err)
		s.reply(431, "Cannot start TLS now")
		return
	}
	// Whatever the client sent after this line is the start of its
	// handshake; it leaves the clear-text reader for the TLS layer.
	st.startTLS(s.conn, bytes.Clone(s.r.buffered()))
	if !s.reply(234, "AUTH "+mech+" successful") {
		return
	}
	// The read deadline armed for the AUTH line may be the parking one
	// (ParkIdleAfter from then): the handshake has its own bound.
	s.conn.SetReadDeadline(time.Time{})
	err = st.handshake()
	s.observeHandshake(true, err)
	if err != nil {
		s.log.Info("TLS handshake on control connection failed", "err", err)
		s.quit.Store(true)
		s.conn.Close()
		return
	}
	s.useTLS(st)
	if mech == "SSL" || mech == "TLS-P" {
		s.pbsz, s.protP = true, true
	}
	s.log.Debug("control connection secured", "tls", st.describe())
}

// useTLS switches the control connection to st.
func (s *session) useTLS(st *sessionTLS) {
	s.status.tlsOn.Store(true)
	s.wmu.Lock()
	s.tls = st
	s.ctl = st.ctl
	s.wmu.Unlock()
	if s.r != nil {
		s.r.reset(st.ctl)
	}
}

// handlePBSZ: after AUTH -> PBSZ set (RFC 4217 section 8: TLS has no
// buffer; the only size is 0, and a larger request is answered "PBSZ=0").
func (s *session) handlePBSZ(arg string) {
	if s.tls == nil {
		s.reply(503, "PBSZ needs a TLS control connection: send AUTH TLS first")
		return
	}
	if _, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 32); err != nil {
		s.reply(501, "PBSZ takes a decimal buffer size (0 for TLS)")
		return
	}
	s.pbsz = true
	s.reply(200, "PBSZ=0")
}

// handlePROT: after PBSZ -> data protection level set (RFC 2228, RFC 4217
// section 9). TLS gives no Safe or Confidential level: 536.
func (s *session) handlePROT(arg string) {
	if s.tls == nil || !s.pbsz {
		s.reply(503, "PROT needs PBSZ first")
		return
	}
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "C":
		// The policy in force now, not at AUTH: a reload that turns on
		// require-tls applies from the next command.
		if s.srv.settings().tls.Require {
			// RFC 2228: 534 when the server is not willing to accept the
			// level for policy reasons.
			s.reply(534, "PROT C refused: this server requires protected data (PROT P)")
			return
		}
		if s.early != nil {
			// A passive port opened under PROT P waits for a TLS client
			// (earlyTLS). Not yet connected, it serves a clear transfer
			// as well; a connection already taken into TLS cannot, and
			// the setup is dropped (the transfer command gets 425).
			connected := s.early.stop()
			s.early = nil
			if connected {
				s.releaseData()
			}
		}
		s.protP = false
		s.reply(200, "Protection level set to Clear")
	case "P":
		s.protP = true
		s.reply(200, "Protection level set to Private")
	case "S", "E":
		s.reply(536, "Protection level not supported by TLS; use C or P")
	default:
		s.reply(504, "Unknown protection level; use C or P")
	}
}

// handleCCC: TLS control connection -> clear text, TCP kept (RFC 4217
// section 6). After the 200 both sides send close_notify; recordConn made
// sure the TLS layer read nothing past the client's, so what follows it is
// read as clear text.
func (s *session) handleCCC(arg string) {
	switch {
	case s.tls == nil || s.tls.cleared:
		s.reply(533, "CCC needs a TLS control connection")
		return
	case !s.srv.settings().tls.AllowCCC:
		s.reply(534, "CCC refused by server policy (--tls-allow-ccc is off)")
		return
	}
	if !s.reply(200, "Control connection will be in clear text") {
		return
	}
	st := s.tls
	s.wmu.Lock()
	err := st.ctl.CloseWrite()
	s.wmu.Unlock()
	// Read to the client's close_notify; encrypted commands pipelined
	// after CCC are dropped, not run.
	if err == nil {
		s.conn.SetReadDeadline(time.Now().Add(st.opts.handshakeTimeout()))
		var n int64
		n, err = io.Copy(io.Discard, s.r)
		if n > 0 {
			s.log.Info("CCC: dropped encrypted bytes sent after CCC", "bytes", n)
		}
	}
	if err != nil {
		s.log.Info("CCC: TLS shutdown failed", "err", err)
		s.quit.Store(true)
		s.conn.Close()
		return
	}
	st.rec.clear = true
	st.cleared = true
	s.wmu.Lock()
	s.ctl = st.rec
	s.wmu.Unlock()
	s.r.reset(st.rec)
	s.log.Info("control connection cleared by CCC")
}

// requireTLS answers 530 to USER/PASS sent in clear text under Require.
func (s *session) requireTLS() bool {
	if st := s.srv.settings(); st.tlsConfig == nil || s.tls != nil || !st.tls.Require {
		return true
	}
	s.reply(530, "TLS required: send AUTH TLS before USER and PASS")
	return false
}

// dataProtectionOK answers 521 to a data command under Require without PROT
// P. RFC 4217 section 9 names 521 for a data command refused because of the
// PROT level; 534 is kept for refusing PROT C itself.
func (s *session) dataProtectionOK() bool {
	if st := s.srv.settings(); s.protP || st.tlsConfig == nil || !st.tls.Require {
		return true
	}
	s.reply(521, "Data connection cannot be opened with this PROT setting: this server requires PBSZ 0 and PROT P")
	return false
}

// implicitListener makes every accepted connection TLS from its first
// byte.
type implicitListener struct {
	net.Listener
	srv *Server
}

// ImplicitTLSListener wraps l for implicit FTPS (port 990 style): the
// control connection is TLS from the first byte and data connections
// default to PROT P. Serve it with Serve. TLSConfig must be set.
func (srv *Server) ImplicitTLSListener(l net.Listener) net.Listener {
	return &implicitListener{Listener: l, srv: srv}
}

// Accept returns the next connection, already wrapped in TLS. A connection
// that cannot get TLS (no TLSConfig after a reload turned FTPS off) is
// closed and logged here, and Accept goes on: an error from Accept would
// make Serve back off as if the listener itself were failing.
func (l *implicitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		st, err := newSessionTLS(l.srv)
		if err != nil {
			l.srv.settings().logger.Warn("implicit FTPS connection closed", "listener", l.Addr().String(),
				"client", c.RemoteAddr().String(), "err", err)
			c.Close()
			continue
		}
		st.implicit = true
		st.startTLS(c, nil)
		return &implicitConn{Conn: st.ctl, raw: c, st: st}, nil
	}
}

// implicitConn is a control connection from an implicit listener. Reads
// and writes go through TLS (so the 421 of a refused connection is
// readable); Close closes the TCP connection at once, as it does for
// explicit sessions, without waiting to send close_notify.
type implicitConn struct {
	*tls.Conn
	raw net.Conn
	st  *sessionTLS
}

func (c *implicitConn) Close() error { return c.raw.Close() }

// tcpConn is the TCP connection under a control connection: a PROXY header
// comes before implicit TLS starts.
func tcpConn(c net.Conn) net.Conn {
	if ic, ok := c.(*implicitConn); ok {
		return ic.raw
	}
	return c
}

// errSessionNotReused is the handshake error under RequireSessionReuse.
var errSessionNotReused = errors.New("data connection TLS session does not resume the control connection's")

// secureData wraps a data connection in TLS, server side whichever side
// connected (RFC 4217 section 10.2). The handshake runs in the background
// and is not waited for here: clients differ on when they start it. Python's
// ftplib and jlaffaye/ftp wait for the 150 reply, which the transfer sends
// after openData. The first read or write waits for it, and so does Close
// when the transfer moved no bytes (an empty file). Passive connections
// under PROT P do not come here: their handshake starts when the client
// connects (earlyTLS).
func (s *session) secureData(ctx context.Context, c net.Conn) net.Conn {
	d := s.newTLSDataConn(c, ctx)
	d.ctx = ctx
	go d.handshake()
	return d
}

// newTLSDataConn wraps c, the handshake bounded by hsCtx. The session's
// certificate and tickets, but the policy in force now: a reload that turns
// on tls-require-session-reuse applies to the next data connection of every
// session.
func (s *session) newTLSDataConn(c net.Conn, hsCtx context.Context) *tlsDataConn {
	b := &batchConn{Conn: c}
	return &tlsDataConn{Conn: tls.Server(b, s.tls.config), batch: b, hsCtx: hsCtx, s: s, opts: s.srv.settings().tls}
}

// batchConn is the TCP connection under a TLS data connection. crypto/tls
// writes each record (16 KiB at most) with a write of its own; while buf
// is set (writeBatched, until flush) batchConn gathers them instead, so
// that a large Write of the TLS connection leaves in one system call.
type batchConn struct {
	net.Conn
	buf []byte // non-nil while batching
}

func (b *batchConn) Write(p []byte) (int, error) {
	if b.buf == nil {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// flush writes what was gathered and ends the batch; buf is kept for the
// next one.
func (b *batchConn) flush(buf []byte) ([]byte, error) {
	_, err := b.Conn.Write(b.buf)
	buf, b.buf = b.buf[:0], nil
	return buf, err
}

// tlsDataConn is a TLS data connection whose handshake is bounded by the
// handshake timeout and by hsCtx: the transfer's context (ABOR cancels it),
// or for an early handshake the passive setup's, which the transfer's
// cancels once it takes the connection.
type tlsDataConn struct {
	*tls.Conn
	hsCtx context.Context
	// ctx is the transfer's context; set by the transfer goroutine before
	// it uses the connection and read only by it (and by abort, under the
	// transfer's lock).
	ctx   context.Context
	s     *session
	opts  TLSOptions
	batch *batchConn

	mu   sync.Mutex
	done bool
	err  error
}

func (c *tlsDataConn) handshake() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.err
	}
	c.done = true
	opts := c.opts
	ctx, cancel := context.WithTimeout(c.hsCtx, opts.handshakeTimeout())
	defer cancel()
	err := c.Conn.HandshakeContext(ctx)
	c.s.observeHandshake(false, err)
	if err == nil && opts.RequireSessionReuse && !c.Conn.ConnectionState().DidResume {
		// End TLS cleanly: a client that sees close_notify goes on to read
		// the 425 that explains, where a bare TCP close is a TLS error to
		// it (Python's ftplib) and the explanation is never read.
		c.Conn.CloseWrite()
		err = errSessionNotReused
	}
	if err == nil {
		return nil
	}
	c.err = fmt.Errorf("TLS handshake on data connection: %w", err)
	if c.hsCtx.Err() != nil {
		return c.err // ABOR (the transfer answers 426) or a dropped setup
	}
	text := "TLS handshake on data connection failed"
	switch {
	case errors.Is(err, errSessionNotReused):
		text = "TLS session of the data connection must resume the control connection's (server setting --tls-require-session-reuse); this client started a new one"
	case errors.Is(err, context.DeadlineExceeded):
		text = "TLS handshake on data connection timed out"
	}
	c.s.log.Info("data connection TLS handshake failed", "err", err)
	c.err = &ReplyError{Code: 425, Text: text, Err: c.err}
	return c.err
}

func (c *tlsDataConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *tlsDataConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// writeBatched writes p through TLS in one system call (its records
// gathered in buf, which it returns for the next call) instead of one per
// record. A failed write fails the transfer: the TLS connection cannot be
// used after it.
func (c *tlsDataConn) writeBatched(p, buf []byte) ([]byte, error) {
	if err := c.handshake(); err != nil {
		return buf, err
	}
	if buf == nil {
		buf = make([]byte, 0, recordsSize(len(p)))
	}
	c.batch.buf = buf[:0]
	_, err := c.Conn.Write(p)
	buf, ferr := c.batch.flush(buf)
	if err == nil {
		err = ferr
	}
	return buf, err
}

// recordsSize is room for n bytes of data as TLS records: each record of
// at most 16 KiB adds a header and a tag (22 bytes in TLS 1.3, less than
// 1/256 of a full record), and the records at the start of a connection
// are smaller (dynamic record sizing), hence the slack.
func recordsSize(n int) int { return n + n/256 + 1024 }

// Close ends the transfer's TLS session with close_notify, which tells the
// client a download is complete. A transfer that moved no bytes still owes
// the client its handshake. After ABOR (context cancelled) it only closes.
// A close_notify that cannot be sent (the client already reset the
// connection after receiving everything) does not fail the transfer, just
// as closing a plain TCP connection does not.
func (c *tlsDataConn) Close() error {
	if c.ctx != nil && c.ctx.Err() == nil {
		if err := c.handshake(); err != nil {
			c.Conn.NetConn().Close()
			return err
		}
		if err := c.Conn.CloseWrite(); err != nil {
			c.s.log.Debug("data connection close_notify not sent", "err", err)
		}
	}
	return c.Conn.NetConn().Close()
}

// earlyTLS is a passive data connection under PROT P whose TLS handshake
// starts as soon as the client connects, before the transfer command.
//
// Why: curl connects to the passive port and sends its ClientHello right
// after the 227/229 reply, then sends TYPE, SIZE and RETR (or STOR, LIST).
// Until its data handshake completes it polls only the data socket, with a
// 200 ms timeout, not the control connection: a server that answers the
// ClientHello only at RETR made curl notice each control reply in between
// (TYPE's, SIZE's) only when that timeout ran out, 0.2-0.4 s per transfer.
// Answering the ClientHello at once completes curl's handshake in a
// millisecond. Clients that start TLS after the 150 reply (ftplib,
// jlaffaye/ftp, lftp) see no difference: the handshake simply waits for
// their ClientHello, bounded by the handshake timeout from their connect.
//
// The connection, once accepted, belongs to the earlyTLS until a transfer
// takes it (take) or the setup is dropped (stop).
type earlyTLS struct {
	cancel context.CancelFunc // ends the wait for the client and the handshake
	done   chan struct{}      // closed when the accept has ended
	conn   *tlsDataConn       // set before done is closed, if accepted
	err    error              // the accept's error, if not
}

// startEarlyTLS waits for res's connection in the background and starts
// its handshake at once.
func (s *session) startEarlyTLS(res *passive.Reservation) *earlyTLS {
	ctx, cancel := context.WithCancel(s.ctx)
	e := &earlyTLS{cancel: cancel, done: make(chan struct{})}
	go func() {
		c, err := res.Accept(ctx)
		if err != nil {
			e.err = err
			close(e.done)
			return
		}
		e.conn = s.newTLSDataConn(c, ctx)
		close(e.done)
		e.conn.handshake()
	}()
	return e
}

// take hands the connection to the transfer whose context is ctx: ABOR
// then cancels the handshake if it is still running. It waits for the
// client's connection as Reservation.Accept does.
func (e *earlyTLS) take(ctx context.Context) (net.Conn, error) {
	select {
	case <-e.done:
	case <-ctx.Done():
		e.stop()
		return nil, ctx.Err()
	}
	if e.err != nil {
		e.cancel()
		return nil, e.err
	}
	e.conn.ctx = ctx
	context.AfterFunc(ctx, e.cancel)
	return e.conn, nil
}

// stop drops the setup: the wait ends, and a connection that arrived is
// closed. It reports whether one had arrived. Only for an earlyTLS no
// transfer has taken.
func (e *earlyTLS) stop() (connected bool) {
	e.cancel()
	<-e.done
	if e.conn == nil {
		return false
	}
	e.conn.Conn.NetConn().Close()
	return true
}
